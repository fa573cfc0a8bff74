// Names files (/etc/netns/<namespace>/hosts, resolv.conf): operations, one a line, run in order.
// On this machine they run in-process (runner.files: src/state/local-files.ts); on an ssh host
// a fixed sh script reads them on stdin, one process for the whole batch, and data never
// reaches a shell as code. A write puts the whole content in a temp file in the same directory
// and renames it over the file (atomic: a reader sees the old file or the new one), and only
// over a file whose first line is tsnet's marker for the same owner: anything else is foreign
// and left alone. Steps keep argvs (the journal's form); each becomes one line:
//
//   argv                              line                              what it does
//   write  PATH HEAD64 [BODY64]       write  PATH OWNER HEAD64 [BODY64] the file's content: head, then body
//   remove PATH BASE64-MARKER         remove PATH OWNER                 only when its first line is the marker (absent: nothing to do)
//   link   PATH TARGET OWNER          link   PATH OWNER TARGET          a symbolic link (hosts -> ../.tsnet/<topology>/<key>.hosts)
//   unlink PATH OWNER                 unlink PATH OWNER                 removes such a link (absent: nothing to do)
//   rmdir  DIR                        rmdir  DIR                        when empty (a directory tsnet made for its files)
//
// A link replaces only nothing, a link into the owner's topology's shared directory, or a file
// with the owner's marker; anything else at the path is foreign.
// OWNER is `<topology>:<address>`, read from the head's (or the marker's) first line. The head
// (marker and directory or host lines) and the body (the rest) travel apart.
import { checkNamesPath, fileOwner, OWNER_RE, type FileOp } from '../../state/files.js';

export type { FileOp };
import { UNKNOWN_PROGRESS } from '../../state/fanout.js';
import { oneLine } from '../../state/read.js';
import type { Step } from '../../planner/types.js';
import type { Runner, RunResult } from '../../state/runner.js';
import type { Batch, BatchOutcome, ToolModule } from './types.js';

/**
 * $1: "stop" (apply: stop at the first failure) or "go-on" (undo: one error does not stop the
 * rest). Three processes per write (base64 -d for the head and for the body, mv), one per
 * removal: the owner check reads the first line with the shell's own `read`. (The two parts are
 * decoded apart: not every base64 reads data that goes on after padding.)
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
linked() {
  [ -e "$1" ] || [ -L "$1" ] || return 0
  if [ -L "$1" ]; then t=$(readlink -- "$1") || return 1; case $t in "../.tsnet/\${2%%:*}/"*) return 0 ;; esac; return 1; fi
  marked "$1" "$2"
}
while read -r op path owner data body; do
  n=$((n+1))
  case $op in
  write)
    marked "$path" "$owner" || { fail "$path is not tsnet's to overwrite: its first line is not tsnet's marker for it"; continue; }
    dir=\${path%/*}
    [ -d "$dir" ] || mkdir -p -- "$dir" || { fail "cannot make $dir"; continue; }
    tmp="$dir/.tsnet.$$.$n"
    if { printf '%s' "$data" | base64 -d && { [ -z "$body" ] || printf '%s' "$body" | base64 -d; }; } > "$tmp" && mv -f -- "$tmp" "$path"; then :; else rm -f -- "$tmp"; fail "cannot write $path"; continue; fi ;;
  remove)
    marked "$path" "$owner" || { fail "$path is not tsnet's to remove: its first line is not tsnet's marker for it"; continue; }
    if [ -e "$path" ]; then rm -f -- "$path" || { fail "cannot remove $path"; continue; }; fi ;;
  link)
    linked "$path" "$owner" || { fail "$path is not tsnet's to replace: it is not a link into tsnet's directory nor a file with tsnet's marker for it"; continue; }
    dir=\${path%/*}
    [ -d "$dir" ] || mkdir -p -- "$dir" || { fail "cannot make $dir"; continue; }
    tmp="$dir/.tsnet.$$.$n"
    if ln -s -- "$data" "$tmp" && mv -f -T -- "$tmp" "$path"; then :; else rm -f -- "$tmp"; fail "cannot link $path"; continue; fi ;;
  unlink)
    linked "$path" "$owner" || { fail "$path is not tsnet's to remove: it is not a link into tsnet's directory nor a file with tsnet's marker for it"; continue; }
    if [ -e "$path" ] || [ -L "$path" ]; then rm -f -- "$path" || { fail "cannot remove $path"; continue; }; fi ;;
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
const DIR_RE = /^\/etc\/netns\/([A-Za-z0-9_.:@+=,%-]+|\.tsnet\/[A-Za-z0-9_.@%+=,-]+)$/;
/** A hosts link's target: into a topology's shared directory (tools/file.ts and the script check it names the owner's). */
const TARGET_RE = /^\.\.\/\.tsnet\/([A-Za-z0-9_.@%+=,-]+)\/[0-9a-f]{8}\.hosts$/;
const LINK_OWNER_RE = /^[A-Za-z0-9_.@%+=,-]+:hosts\.[A-Za-z0-9_.@%+=,-]+$/;

export const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');

/** The owner named by the first line of base64 data (its first 3 KiB are enough for a marker). */
function ownerOf(data: string): string | undefined {
  const o = fileOwner(Buffer.from(data.slice(0, 4096), 'base64').toString('utf8'));
  const owner = o && `${o.topology}:${o.address}`;
  return owner && OWNER_RE.test(owner) ? owner : undefined;
}

/** A link or unlink operation, checked: a hosts path, the owner's link, a target in the owner's topology's directory. */
function linkOp(argv: readonly string[], bad: () => Error): FileOp {
  const [op, path = ''] = argv;
  const owner = argv[argv.length - 1] ?? '';
  const ok = op === 'link' ? argv.length === 4 : argv.length === 3;
  if (!ok || !LINK_OWNER_RE.test(owner) || !path.endsWith('/hosts')) throw bad();
  if (op === 'unlink') return { op, path: checkNamesPath(path), owner };
  const target = argv[2] ?? '';
  if (TARGET_RE.exec(target)?.[1] !== owner.slice(0, owner.indexOf(':'))) throw bad();
  return { op: 'link', path: checkNamesPath(path), owner, target };
}

/** One operation from an argv; anything but the operations on names files, each tsnet's, is a bug, never run. */
export function fileOp(argv: readonly string[]): FileOp {
  const [op, path = '', data, body = ''] = argv;
  const bad = () => new Error(`internal: refusing file operation ${JSON.stringify(argv.map((a) => (a.length > 80 ? `${a.slice(0, 80)}...` : a)))}`);
  if (op === 'rmdir') {
    if (argv.length !== 2 || !DIR_RE.test(path) || path.split('/').some((p) => p === '..' || p === '.')) throw bad();
    return { op, path };
  }
  if (op === 'link' || op === 'unlink') return linkOp(argv, bad);
  const arity = op === 'write' ? argv.length === 3 || argv.length === 4 : op === 'remove' && argv.length === 3;
  if (!arity || data === undefined || !BASE64.test(data) || !BASE64.test(body)) throw bad();
  const owner = ownerOf(data);
  if (!owner) throw bad();
  return op === 'write' ? { op: 'write', path: checkNamesPath(path), owner, head: data, body } : { op: 'remove', path: checkNamesPath(path), owner };
}

/** The script's line for an operation (a link's target where a write's head is). */
export const opLine = (o: FileOp): string => [o.op, o.path, o.owner, o.target ?? o.head, o.body].filter((x) => x).join(' ');

/** An operation from a script line (the inverse of opLine). */
export function parseOpLine(line: string): FileOp {
  const [op = '', path = '', owner, head, body] = line.split(' ');
  const data = head ? (op === 'link' ? { target: head } : { head }) : {};
  return { op, path, ...(owner ? { owner } : {}), ...data, ...(body ? { body } : {}) };
}

/** One operation line from an argv (what an ssh host's script reads). */
export const fileLine = (argv: readonly string[]): string => opLine(fileOp(argv));

/** Runs operations: in-process on this machine, else the script through the runner. */
function runOps(runner: Runner, ops: readonly FileOp[], mode: 'stop' | 'go-on'): Promise<RunResult> | RunResult {
  if (runner.files) return runner.files.apply(ops, mode);
  return runner.run(fileScriptArgv(mode), { input: `${ops.map(opLine).join('\n')}\n` });
}

const okCount = (stdout: string): number => stdout.split('\n').filter((l) => l.startsWith('ok ')).length;

interface StepOp {
  step: Step;
  first: boolean;
  op: FileOp;
}

function opsOf(batch: Batch): StepOp[] {
  const out: StepOp[] = [];
  for (const step of batch.steps) step.do.forEach((argv, i) => out.push({ step, first: i === 0, op: fileOp(argv) }));
  return out;
}

async function run(runner: Runner, batch: Batch): Promise<BatchOutcome> {
  const ops = opsOf(batch);
  const res = await runOps(runner, ops.map((o) => o.op), 'stop');
  if (res.exitCode === 0) return { done: batch.steps };
  const ran = okCount(res.stdout);
  const failed = ops[Math.min(ran, ops.length - 1)]!;
  const done = [...new Set(ops.slice(0, ran).map((l) => l.step))].filter((s) => s !== failed.step);
  const error = oneLine(res.stderr.replace(/^-:\d+: /gm, '')) || `the file operations ended with ${res.exitCode}`;
  const command = `file ${failed.op.op} ${failed.op.path}`;
  // Killed (its time limit): the lines from the one running on may or may not have run.
  if (res.exitCode === UNKNOWN_PROGRESS) return { done, unknown: [...new Set(ops.slice(ran).map((l) => l.step))], failure: { step: failed.step, error, command } };
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
    const res = await runOps(runner, argvs.map(fileOp), 'go-on');
    return res.exitCode === 0 ? [] : [`host ${host}: ${oneLine(res.stderr)}`];
  },
};
