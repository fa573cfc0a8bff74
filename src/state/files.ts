// Reading the names files tsnet writes for sandboxes (/etc/netns/<namespace>/hosts and
// resolv.conf), through the host's runner: one process per host, a fixed script that gets the
// paths as arguments (never a shell string) and prints each file base64-encoded on one line.
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

/** Reads the names files at `paths` on the runner's host. */
export async function readFiles(runner: Runner, paths: readonly string[]): Promise<Map<string, KFile>> {
  if (!paths.length) return new Map();
  const res = await runner.run(['sh', '-c', READ_SCRIPT, 'tsnet-read-files', ...paths.map(checkNamesPath)]);
  if (res.exitCode !== 0) throw new StateReadError(runner.host, `cannot read the names files under ${ETC_NETNS} on host "${runner.host}" (${runner.describe}): ${oneLine(res.stderr) || `exit ${res.exitCode}`}`);
  const files = parseFilesOutput(res.stdout);
  for (const p of paths) if (!files.has(p)) throw new StateReadError(runner.host, `cannot read ${p} on host "${runner.host}": no answer for it`);
  return files;
}

/** The paths of the names files of these namespaces. */
export const namesPaths = (namespaces: Iterable<string>): string[] => [...new Set(namespaces)].sort().flatMap((ns) => NAMES_FILES.map((f) => namesPath(ns, f)));
