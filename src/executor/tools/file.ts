// Names files (/etc/netns/<namespace>/hosts, resolv.conf): operations, one a line, run in order.
// On this machine they run in-process (runner.files: src/state/local-files.ts); on an ssh host
// a fixed sh script reads them on stdin, one process for the whole batch, and data never
// reaches a shell as code. A write puts the whole content in a temp file in the same directory
// and renames it over the file (atomic: a reader sees the old file or the new one), and only
// over a file whose first line is tsnet's marker for the same owner: anything else is foreign
// and left alone. Steps keep argvs (the journal's form); each becomes one line:
//
//   argv                          line                      what it does
//   write  PATH BASE64            write  PATH OWNER BASE64  the file's full content
//   remove PATH BASE64-MARKER     remove PATH OWNER         only when its first line is the marker (absent: nothing to do)
//   rmdir  DIR                    rmdir  DIR                when empty (a directory tsnet made for its files)
//
// OWNER is `<topology>:<address>`, read from the content's (or the marker's) first line.
import { checkNamesPath, ETC_NETNS, fileOwner, OWNER_RE } from '../../state/files.js';
import { UNKNOWN_PROGRESS } from '../../state/fanout.js';
import { oneLine } from '../../state/read.js';
import type { Runner, RunResult } from '../../state/runner.js';
import { linesOf } from './stdin-batch.js';
import type { Batch, BatchOutcome, ToolModule } from './types.js';

/**
 * $1: "stop" (apply: stop at the first failure) or "go-on" (undo: one error does not stop the
 * rest). Two processes per write (base64 -d, mv), one per removal: the owner check reads the
 * first line with the shell's own `read`.
 */
export const FILE_SCRIPT = `mode=$1; n=0; rc=0; umask 022
fail() { echo "-:$n: $*" >&2; [ "$mode" = go-on ] || exit 1; rc=1; }
marked() {
  [ -e "$1" ] || [ -L "$1" ] || return 0
  [ -f "$1" ] && [ ! -L "$1" ] || return 1
  have=; IFS= read -r have < "$1" || [ -n "$have" ] || return 1
  case $have in "# tsnet:$2 "*) return 0 ;; esac
  return 1
}
while read -r op path owner data; do
  n=$((n+1))
  case $op in
  write)
    marked "$path" "$owner" || { fail "$path is not tsnet's to overwrite: its first line is not tsnet's marker for it"; continue; }
    dir=\${path%/*}
    [ -d "$dir" ] || mkdir -p -- "$dir" || { fail "cannot make $dir"; continue; }
    tmp="$dir/.tsnet.$$.$n"
    if printf '%s' "$data" | base64 -d > "$tmp" && mv -f -- "$tmp" "$path"; then :; else rm -f -- "$tmp"; fail "cannot write $path"; continue; fi ;;
  remove)
    marked "$path" "$owner" || { fail "$path is not tsnet's to remove: its first line is not tsnet's marker for it"; continue; }
    if [ -e "$path" ]; then rm -f -- "$path" || { fail "cannot remove $path"; continue; }; fi ;;
  rmdir) rmdir -- "$path" 2>/dev/null || : ;;
  *) fail "unknown operation $op"; continue ;;
  esac
  echo "ok $n"
done
exit $rc`;

/** The script's argv; FILE_ARGV0 names it in ps and in messages. */
const FILE_ARGV0 = 'tsnet-files';
export const fileScriptArgv = (mode: 'stop' | 'go-on'): string[] => ['sh', '-c', FILE_SCRIPT, FILE_ARGV0, mode];

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const DIR_RE = /^\/etc\/netns\/[A-Za-z0-9_.:@+=,%-]+$/;

export const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');

/** The owner named by the first line of base64 data (its first 3 KiB are enough for a marker). */
function ownerOf(data: string): string | undefined {
  const o = fileOwner(Buffer.from(data.slice(0, 4096), 'base64').toString('utf8'));
  const owner = o && `${o.topology}:${o.address}`;
  return owner && OWNER_RE.test(owner) ? owner : undefined;
}

/** One operation line from an argv; anything but the three operations on names files, each tsnet's, is a bug, never run. */
export function fileLine(argv: readonly string[]): string {
  const [op, path = '', data] = argv;
  const bad = () => new Error(`internal: refusing file operation ${JSON.stringify(argv.map((a) => (a.length > 80 ? `${a.slice(0, 80)}...` : a)))}`);
  if (op === 'rmdir') {
    if (argv.length !== 2 || !DIR_RE.test(path) || path === `${ETC_NETNS}/..` || path === `${ETC_NETNS}/.`) throw bad();
    return `rmdir ${path}`;
  }
  if ((op !== 'write' && op !== 'remove') || argv.length !== 3 || data === undefined || !BASE64.test(data)) throw bad();
  const owner = ownerOf(data);
  if (!owner) throw bad();
  return op === 'write' ? `write ${checkNamesPath(path)} ${owner} ${data}` : `remove ${checkNamesPath(path)} ${owner}`;
}

/** Runs lines: in-process on this machine, else the script through the runner. */
function runLines(runner: Runner, lines: readonly string[], mode: 'stop' | 'go-on'): Promise<RunResult> | RunResult {
  if (runner.files) return runner.files.apply(lines, mode);
  return runner.run(fileScriptArgv(mode), { input: `${lines.join('\n')}\n` });
}

const okCount = (stdout: string): number => stdout.split('\n').filter((l) => l.startsWith('ok ')).length;

async function run(runner: Runner, batch: Batch): Promise<BatchOutcome> {
  const lines = linesOf(batch, fileLine);
  const res = await runLines(runner, lines.map((l) => l.text), 'stop');
  if (res.exitCode === 0) return { done: batch.steps };
  const ran = okCount(res.stdout);
  const failed = lines[Math.min(ran, lines.length - 1)]!;
  const done = [...new Set(lines.slice(0, ran).map((l) => l.step))].filter((s) => s !== failed.step);
  const error = oneLine(res.stderr.replace(/^-:\d+: /gm, '')) || `the file operations ended with ${res.exitCode}`;
  const command = `file ${failed.text.split(' ').slice(0, 2).join(' ')}`;
  // Killed (its time limit): the lines from the one running on may or may not have run.
  if (res.exitCode === UNKNOWN_PROGRESS) return { done, unknown: [...new Set(lines.slice(ran).map((l) => l.step))], failure: { step: failed.step, error, command } };
  // A step that ran some of its lines is undone whole: its undo writes back what was there.
  return { done, ...(failed.first ? {} : { partial: failed.step }), failure: { step: failed.step, error, command } };
}

export const file: ToolModule = {
  name: 'file',
  program: 'sh',
  line: fileLine,
  // A written file carries its owner's marker, so a later run recognises it from the kernel's
  // side; its content (megabytes at a thousand sandboxes) is never read back from the journal.
  journalArgv: (argv) => (argv[0] === 'write' ? ['write', argv[1] ?? ''] : [...argv]),
  run,
  async undo(runner, host, _ns, argvs) {
    const res = await runLines(runner, argvs.map(fileLine), 'go-on');
    return res.exitCode === 0 ? [] : [`host ${host}: ${oneLine(res.stderr)}`];
  },
};
