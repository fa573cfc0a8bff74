// Names files (/etc/netns/<namespace>/hosts, resolv.conf): a fixed sh script reads operations
// on stdin, one a line, and runs them in order; data never reaches a shell as code. A write puts
// the whole content in a temp file in the same directory and renames it over the file (atomic:
// a reader sees the old file or the new one), and only over a file whose first line is the
// content's own (tsnet's marker for that file): anything else is foreign and left alone.
//
//   write  PATH BASE64          the file's full content
//   remove PATH BASE64-MARKER   only when its first line is the marker (absent: nothing to do)
//   rmdir  DIR                  when empty (a directory tsnet made for its files)
import { checkNamesPath, ETC_NETNS } from '../../state/files.js';
import { oneLine } from '../../state/read.js';
import type { Runner } from '../../state/runner.js';
import { linesOf } from './stdin-batch.js';
import type { Batch, BatchOutcome, ToolModule } from './types.js';

/** $1: "stop" (apply: stop at the first failure) or "go-on" (undo: one error does not stop the rest). */
export const FILE_SCRIPT = `mode=$1; n=0; rc=0
fail() { echo "-:$n: $*" >&2; [ "$mode" = go-on ] || exit 1; rc=1; }
marked() { [ ! -e "$1" ] && [ ! -L "$1" ] && return 0; have=$(head -n 1 -- "$1") || return 1; [ "$have" = "$(printf '%s' "$2" | base64 -d | head -n 1)" ]; }
while read -r op path data; do
  n=$((n+1))
  case $op in
  write)
    marked "$path" "$data" || { fail "$path is not tsnet's to overwrite: its first line is not tsnet's marker for it"; continue; }
    dir=\${path%/*}
    mkdir -p -- "$dir" || { fail "cannot make $dir"; continue; }
    tmp=$(mktemp -- "$dir/.tsnet.XXXXXX") || { fail "cannot write in $dir"; continue; }
    if printf '%s' "$data" | base64 -d > "$tmp" && chmod 644 -- "$tmp" && mv -f -- "$tmp" "$path"; then :; else rm -f -- "$tmp"; fail "cannot write $path"; continue; fi ;;
  remove)
    marked "$path" "$data" || { fail "$path is not tsnet's to remove: its first line is not tsnet's marker for it"; continue; }
    rm -f -- "$path" || { fail "cannot remove $path"; continue; } ;;
  rmdir) rmdir -- "$path" 2>/dev/null || : ;;
  *) fail "unknown operation $op"; continue ;;
  esac
  echo "ok $n"
done
exit $rc`;

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const DIR_RE = /^\/etc\/netns\/[A-Za-z0-9_.:@+=,%-]+$/;

export const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');

/** One operation line from an argv; anything but the three operations on names files is a bug, never run. */
export function fileLine(argv: readonly string[]): string {
  const [op, path = '', data] = argv;
  const bad = () => new Error(`internal: refusing file operation ${JSON.stringify(argv)}`);
  if (op === 'rmdir') {
    if (argv.length !== 2 || !DIR_RE.test(path) || path === `${ETC_NETNS}/..` || path === `${ETC_NETNS}/.`) throw bad();
    return `rmdir ${path}`;
  }
  if ((op !== 'write' && op !== 'remove') || argv.length !== 3 || data === undefined || !BASE64.test(data)) throw bad();
  return `${op} ${checkNamesPath(path)} ${data}`;
}

const okCount = (stdout: string): number => stdout.split('\n').filter((l) => l.startsWith('ok ')).length;

async function run(runner: Runner, batch: Batch): Promise<BatchOutcome> {
  const lines = linesOf(batch, fileLine);
  const res = await runner.run(['sh', '-c', FILE_SCRIPT, 'tsnet-files', 'stop'], { input: `${lines.map((l) => l.text).join('\n')}\n` });
  if (res.exitCode === 0) return { done: batch.steps };
  const ran = okCount(res.stdout);
  const failed = lines[Math.min(ran, lines.length - 1)]!;
  const done = [...new Set(lines.slice(0, ran).map((l) => l.step))].filter((s) => s !== failed.step);
  const error = oneLine(res.stderr.replace(/^-:\d+: /gm, '')) || `sh exited with ${res.exitCode}`;
  // A step that ran some of its lines is undone whole: its undo writes back what was there.
  return { done, ...(failed.first ? {} : { partial: failed.step }), failure: { step: failed.step, error, command: `file ${failed.text.split(' ').slice(0, 2).join(' ')}` } };
}

export const file: ToolModule = {
  name: 'file',
  program: 'sh',
  line: fileLine,
  run,
  async undo(runner, host, _ns, argvs) {
    const res = await runner.run(['sh', '-c', FILE_SCRIPT, 'tsnet-files', 'go-on'], { input: `${argvs.map(fileLine).join('\n')}\n` });
    return res.exitCode === 0 ? [] : [`host ${host}: ${oneLine(res.stderr)}`];
  },
};
