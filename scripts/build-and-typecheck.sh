#!/bin/sh
# npm test's first step: the build (npm run build) and the typecheck of src/ and test/ side by
# side. Each is one tsc run of about a core's worth of time; together they take the time of one.
# Exit status: 0 only when both succeeded (both outputs are shown either way).
cd "$(dirname "$0")/.." || exit 1
npx tsc -p tsconfig.test.json --noEmit &
check=$!
npm run build
built=$?
wait "$check"
checked=$?
[ "$built" -eq 0 ] && [ "$checked" -eq 0 ]
