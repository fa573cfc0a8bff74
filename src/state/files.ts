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

/**
 * tsnet's own directory under /etc/netns: a topology's shared hosts files live in
 * /etc/netns/.tsnet/<topology>/<key>.hosts, and each sandbox's /etc/netns/<ns>/hosts is a link to
 * one (same place on local, netns and ssh hosts: it is where `ip netns exec` looks anyway).
 */
export const SHARED_DIR = `${ETC_NETNS}/.tsnet`;
export const sharedDir = (topology: string): string => `${SHARED_DIR}/${topology}`;
export const sharedPath = (topology: string, key: string): string => `${sharedDir(topology)}/${key}.hosts`;
/** A sandbox's link target: relative, so that it points into the same /etc/netns wherever that tree is mounted. */
export const sharedTarget = (topology: string, key: string): string => `../.tsnet/${topology}/${key}.hosts`;
/** True when a link target is inside the topology's shared directory (the link is then tsnet's). */
export const isSharedTarget = (target: string, topology: string): boolean => target.startsWith(`../.tsnet/${topology}/`);
/** The topology whose shared directory a link target points into, if any. */
export const targetTopology = (target: string): string | undefined => /^\.\.\/\.tsnet\/([^/]+)\//.exec(target)?.[1];

/**
 * A file's text in two parts: the head (tsnet's marker line and its directory or host line,
 * when it starts with them; else empty) and the body (the rest). Equal bodies read in one go
 * are one string (interned), and a write sends the head and the body apart.
 */
export interface FileText {
  head: string;
  body: string;
}

/** One file as read: absent, a symbolic link, or its text; and whether its directory exists. */
export interface KFile {
  path: string;
  /** undefined: no such file (or a link). */
  content?: FileText;
  /** A symbolic link: its target, as readlink prints it (never followed when read). */
  link?: string;
  dirExists: boolean;
}

/**
 * The first line of every names file tsnet writes: whose it is ("owner": `<topology>:<address>`).
 * ASCII only, so that files and the strings made of them are one byte a character.
 */
export const markerLine = (topology: string, address: string): string => `# tsnet:${topology}:${address} - managed by tsnet, edits are replaced`;

const MARKER_START = '# tsnet:';
/** How the directory line starts (names.ts: dirLine). */
export const DIR_LINE_START = '# tsnet made ';
/** How a shared hosts file's second line starts: the host whose sandboxes link to it (hosts on one machine share /etc/netns). */
export const HOST_LINE_START = '# tsnet host ';

/** The whole text of a file (for people and tests; the planner compares head and body apart). */
export const joinText = (t: FileText): string => t.head + t.body;

/** Where the head of a text ends: after the marker line, and the directory line when it follows. */
function headEnd(startsWith: (s: string, at: number) => boolean, indexOfNl: (from: number) => number): number {
  if (!startsWith(MARKER_START, 0)) return 0;
  const first = indexOfNl(0);
  if (first < 0) return -1;
  const second = first + 1;
  if (!startsWith(DIR_LINE_START, second) && !startsWith(HOST_LINE_START, second)) return second;
  const end = indexOfNl(second);
  return end < 0 ? -1 : end + 1;
}

/** A text split into head and body (no interning: for texts made in memory). */
export function splitText(text: string): FileText {
  const end = headEnd(
    (s, at) => text.startsWith(s, at),
    (from) => text.indexOf('\n', from),
  );
  if (end < 0) return { head: text, body: '' };
  return { head: text.slice(0, end), body: text.slice(end) };
}

/**
 * Decodes files' bytes into head and body, the bodies interned: equal bodies (the hosts files of
 * the sandboxes of one network) become one string, compared as bytes before any is decoded.
 * One per read.
 */
export function fileDecoder(): (bytes: Buffer) => FileText {
  const seen = new Map<number, { bytes: Buffer; text: string }[]>();
  const NL = 0x0a;
  return (bytes) => {
    let end = headEnd(
      (s, at) => bytes.length >= at + s.length && bytes.toString('latin1', at, at + s.length) === s,
      (from) => bytes.indexOf(NL, from),
    );
    if (end < 0) end = bytes.length;
    const head = bytes.toString('utf8', 0, end);
    const rest = bytes.subarray(end);
    const same = seen.get(rest.length);
    const found = same?.find((b) => b.bytes.equals(rest));
    if (found) return { head, body: found.text };
    const text = rest.toString('utf8');
    // Kept as a copy: `bytes` may be a slice of a larger buffer that should not stay alive.
    if (same) same.push({ bytes: Buffer.from(rest), text });
    else seen.set(rest.length, [{ bytes: Buffer.from(rest), text }]);
    return { head, body: text };
  };
}

const MARKER = /^# tsnet:([^:\s]+):(\S+) /;

/** Whose a file is, from its first line: undefined when it has no tsnet marker. */
export function fileOwner(content: string | FileText): { topology: string; address: string } | undefined {
  const m = MARKER.exec(typeof content === 'string' ? content : content.head);
  return m ? { topology: m[1]!, address: m[2]! } : undefined;
}

/** The token that names a file's owner in the file tool's lines, checked: `<topology>:<address>`. */
export const OWNER_RE = /^[A-Za-z0-9_.@%+=,-]+:(hosts|hostsfile|resolv)\.[A-Za-z0-9_.@%+=,-]+$/;

/** True when a first line is tsnet's marker for `owner` (what a write or remove may replace). */
export const isMarkerOf = (firstLine: string, owner: string): boolean => firstLine.startsWith(`# tsnet:${owner} `);

/** One checked operation of the file tool (data in base64), as the in-process operations take it (tools/file.ts makes them). */
export interface FileOp {
  /** write, remove, link, unlink or rmdir (anything else is refused where it runs). */
  op: string;
  path: string;
  /** `<topology>:<address>`: write, remove, link and unlink. */
  owner?: string;
  /** link: the target (../.tsnet/<topology>/<key>.hosts). */
  target?: string;
  /** write: the head (marker and directory lines). */
  head?: string;
  /** write: the body (may be empty). */
  body?: string;
}

/**
 * Names files read and written in-process, for runners on this machine (runner.files): the same
 * operations, with the same answers, as the scripts an ssh host runs (tools/file.ts, READ_SCRIPT).
 */
export interface FileAccess {
  /** The files at these paths; throws (a message) when one exists but cannot be read. */
  read(paths: readonly string[]): Map<string, KFile>;
  /** Runs file-tool operations in order, answering as the script does with their lines (stdout "ok N", stderr "-:N: why"). */
  apply(ops: readonly FileOp[], mode: 'stop' | 'go-on'): { stdout: string; stderr: string; exitCode: number };
}

/**
 * Prints one line per path: "file PATH BASE64", "link PATH BASE64-TARGET" (a symbolic link, not
 * followed), "dir PATH" (no file, its directory exists) or "none PATH"; a path ending in "/" (a
 * shared directory) a "file" line per *.hosts file in it. A path that exists but cannot be read
 * stops it (exit 1): never taken as absent.
 */
const READ_SCRIPT = `for f do
  case $f in */)
    for g in "$f"*.hosts; do
      [ -f "$g" ] && [ ! -L "$g" ] || continue
      c=$(base64 -w0 -- "$g") || exit 1; printf 'file %s %s\\n' "$g" "$c"
    done; continue ;;
  esac
  if [ -L "$f" ]; then t=$(readlink -- "$f") || exit 1; printf 'link %s %s\\n' "$f" "$(printf '%s' "$t" | base64 -w0)"
  elif [ -e "$f" ]; then c=$(base64 -w0 -- "$f") || exit 1; printf 'file %s %s\\n' "$f" "$c"
  elif [ -d "\${f%/*}" ]; then printf 'dir %s\\n' "$f"
  else printf 'none %s\\n' "$f"; fi
done`;

const NAME = '[A-Za-z0-9_.:@+=,%-]+';
const PATH_RE = new RegExp(`^/etc/netns/(${NAME}/(hosts|resolv\\.conf)|\\.tsnet/[A-Za-z0-9_.@%+=,-]+/([0-9a-f]{8}\\.hosts)?)$`);

/** Checks a path before it is handed to a program: only names files under /etc/netns (and the shared directories, ending in "/"). */
export function checkNamesPath(path: string): string {
  if (!PATH_RE.test(path) || path.split('/').some((p) => p === '..' || p === '.')) throw new Error(`internal: refusing names file path ${JSON.stringify(path)}`);
  return path;
}

export function parseFilesOutput(stdout: string): Map<string, KFile> {
  const out = new Map<string, KFile>();
  const decode = fileDecoder();
  for (const line of stdout.split('\n')) {
    const [what, path, data] = line.split(' ');
    if (!path) continue;
    if (what === 'file') out.set(path, { path, content: decode(Buffer.from(data ?? '', 'base64')), dirExists: true });
    else if (what === 'link') out.set(path, { path, link: Buffer.from(data ?? '', 'base64').toString('utf8'), dirExists: true });
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
  for (const p of paths) if (!p.endsWith('/') && !files.has(p)) throw new StateReadError(runner.host, `cannot read ${p} on host "${runner.host}": no answer for it`);
  return files;
}

/** The paths of the names files of these namespaces, and the topology's shared directory (ending in "/": its *.hosts files). */
export const namesPaths = (namespaces: Iterable<string>, topology: string): string[] => [
  ...[...new Set(namespaces)].sort().flatMap((ns) => NAMES_FILES.map((f) => namesPath(ns, f))),
  `${sharedDir(topology)}/`,
];
