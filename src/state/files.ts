// The names files tsnet writes for sandboxes (/etc/netns/<namespace>/hosts and resolv.conf):
// their paths, tsnet's marker line, and reading them. On this machine (local and netns hosts)
// they are read in-process (local-files.ts); on an ssh host by one process, a fixed script that
// gets the paths as arguments (never a shell string) and prints each file base64-encoded.
import { oneLine, StateReadError } from './read.js';
import type { Runner } from './runner.js';

/** Where `ip netns exec` finds the files it mounts over /etc for a namespace. */
export const ETC_NETNS = '/etc/netns';

/** The names files tsnet manages, by the name they have under /etc/netns/<namespace>/. */
export const NAMES_FILES = ['hosts', 'resolv.conf'] as const;

export const namesPath = (netns: string, file: (typeof NAMES_FILES)[number]): string => `${ETC_NETNS}/${netns}/${file}`;

/** One file as read: absent, or its content; and whether its directory exists. */
export interface KFile {
  path: string;
  /** undefined: no such file. */
  content?: string;
  dirExists: boolean;
}

/** The first line of every names file tsnet writes: whose it is ("owner": `<topology>:<address>`). */
export const markerLine = (topology: string, address: string): string => `# tsnet:${topology}:${address} — managed by tsnet, edits are replaced`;

const MARKER = /^# tsnet:([^:\s]+):(\S+) /;

/** Whose a file is, from its first line: undefined when it has no tsnet marker. */
export function fileOwner(content: string): { topology: string; address: string } | undefined {
  const m = MARKER.exec(content);
  return m ? { topology: m[1]!, address: m[2]! } : undefined;
}

/** The token that names a file's owner in the file tool's lines, checked: `<topology>:<address>`. */
export const OWNER_RE = /^[A-Za-z0-9_.@%+=,-]+:(hosts|resolv)\.[A-Za-z0-9_.@%+=,-]+$/;

/** True when a first line is tsnet's marker for `owner` (what a write or remove may replace). */
export const isMarkerOf = (firstLine: string, owner: string): boolean => firstLine.startsWith(`# tsnet:${owner} `);

/**
 * Names files read and written in-process, for runners on this machine (runner.files): the same
 * operations, with the same answers, as the scripts an ssh host runs (tools/file.ts, READ_SCRIPT).
 */
export interface FileAccess {
  /** The files at these paths; throws (a message) when one exists but cannot be read. */
  read(paths: readonly string[]): Map<string, KFile>;
  /** Runs file-tool lines in order, answering as the script does (stdout "ok N", stderr "-:N: why"). */
  apply(lines: readonly string[], mode: 'stop' | 'go-on'): { stdout: string; stderr: string; exitCode: number };
}

/**
 * Prints one line per path: "file PATH BASE64", "dir PATH" (no file, its directory exists) or
 * "none PATH". A path that exists but cannot be read stops it (exit 1): never taken as absent.
 */
const READ_SCRIPT = `for f do
  if [ -e "$f" ] || [ -L "$f" ]; then c=$(base64 -w0 -- "$f") || exit 1; printf 'file %s %s\\n' "$f" "$c"
  elif [ -d "\${f%/*}" ]; then printf 'dir %s\\n' "$f"
  else printf 'none %s\\n' "$f"; fi
done`;

const PATH_RE = /^\/etc\/netns\/[A-Za-z0-9_.:@+=,%-]+\/(hosts|resolv\.conf)$/;

/** Checks a path before it is handed to a program: only names files under /etc/netns. */
export function checkNamesPath(path: string): string {
  if (!PATH_RE.test(path) || path.split('/').includes('..')) throw new Error(`internal: refusing names file path ${JSON.stringify(path)}`);
  return path;
}

export function parseFilesOutput(stdout: string): Map<string, KFile> {
  const out = new Map<string, KFile>();
  for (const line of stdout.split('\n')) {
    const [what, path, data] = line.split(' ');
    if (!path) continue;
    if (what === 'file') out.set(path, { path, content: Buffer.from(data ?? '', 'base64').toString('utf8'), dirExists: true });
    else if (what === 'dir' || what === 'none') out.set(path, { path, dirExists: what === 'dir' });
  }
  return out;
}

const readError = (runner: Runner, why: string) => new StateReadError(runner.host, `cannot read the names files under ${ETC_NETNS} on host "${runner.host}" (${runner.describe}): ${why}`);

/** Reads the names files at `paths` on the runner's host. */
export async function readFiles(runner: Runner, paths: readonly string[]): Promise<Map<string, KFile>> {
  if (!paths.length) return new Map();
  for (const p of paths) checkNamesPath(p);
  if (runner.files) {
    try {
      return runner.files.read(paths);
    } catch (err) {
      throw readError(runner, (err as Error).message);
    }
  }
  const res = await runner.run(['sh', '-c', READ_SCRIPT, 'tsnet-read-files', ...paths]);
  if (res.exitCode !== 0) throw readError(runner, oneLine(res.stderr) || `exit ${res.exitCode}`);
  const files = parseFilesOutput(res.stdout);
  for (const p of paths) if (!files.has(p)) throw new StateReadError(runner.host, `cannot read ${p} on host "${runner.host}": no answer for it`);
  return files;
}

/** The paths of the names files of these namespaces. */
export const namesPaths = (namespaces: Iterable<string>): string[] => [...new Set(namespaces)].sort().flatMap((ns) => NAMES_FILES.map((f) => namesPath(ns, f)));
