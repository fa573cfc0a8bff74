// Names files on this machine, read and written in-process (no process per file: a hosts link
// and maybe a resolv.conf per sandbox, hundreds at a few hundred sandboxes). The operations and
// their answers are the file tool's script's (src/executor/tools/file.ts), line for line: a
// write goes to a temp file (a link to a temp link) in the same directory, then is renamed over
// the path (a reader sees the old one or the new one), and only over a file whose first line is
// tsnet's marker for that file's owner (a link: one into the owner's topology's directory).
import { closeSync, fchmodSync, lstatSync, mkdirSync, openSync, readdirSync, readlinkSync, readSync, renameSync, rmdirSync, symlinkSync, unlinkSync, writeSync } from 'node:fs';
import { fileDecoder, isMarkerOf, isSharedTarget, type FileAccess, type FileOp, type FileText, type KFile } from './files.js';

const code = (err: unknown): string | undefined => (err as NodeJS.ErrnoException).code;
const dirOf = (path: string): string => path.slice(0, path.lastIndexOf('/'));

function isDir(path: string): boolean {
  try {
    return lstatSync(path, { throwIfNoEntry: false })?.isDirectory() ?? false;
  } catch (err) {
    if (code(err) === 'ENOENT' || code(err) === 'ENOTDIR') return false;
    throw err;
  }
}

/**
 * Reads a whole file into one scratch buffer, reused from file to file (a thousand hosts files
 * of 28 KB read into buffers of their own are 28 MB of memory outside the heap, freed only by a
 * later collection): the decoder keeps copies of distinct bodies only.
 */
class Scratch {
  private buf = Buffer.alloc(64 * 1024);

  read(path: string): Buffer {
    const fd = openSync(path, 'r');
    try {
      let n = 0;
      for (;;) {
        if (n === this.buf.length) {
          const bigger = Buffer.alloc(this.buf.length * 2);
          this.buf.copy(bigger);
          this.buf = bigger;
        }
        const got = readSync(fd, this.buf, n, this.buf.length - n, null);
        if (got === 0) return this.buf.subarray(0, n);
        n += got;
      }
    } finally {
      closeSync(fd);
    }
  }
}

/** The *.hosts files of a shared directory (a path ending in "/"), regular files only. */
function readShared(dir: string, decode: (bytes: Buffer) => FileText, scratch: Scratch): KFile[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.hosts'));
  } catch (err) {
    if (code(err) === 'ENOENT' || code(err) === 'ENOTDIR') return [];
    throw new Error(`${dir}: ${(err as Error).message}`);
  }
  const out: KFile[] = [];
  for (const n of names.sort()) {
    const path = `${dir}${n}`;
    if (!lstatSync(path).isFile()) continue;
    out.push({ path, content: decode(scratch.read(path)), dirExists: true });
  }
  return out;
}

function readOne(path: string, dirs: Map<string, boolean>, decode: (bytes: Buffer) => FileText, scratch: Scratch): KFile {
  // Without exceptions for absent files (a thousand sandboxes without dns: a thousand absent
  // resolv.conf, two exceptions each cost more than the rest of the read). A link is read as a
  // link (tsnet's hosts links are recognised by their targets), never followed.
  let st: ReturnType<typeof lstatSync>;
  try {
    st = lstatSync(path, { throwIfNoEntry: false });
  } catch (err) {
    if (code(err) !== 'ENOTDIR') throw new Error(`${path}: ${(err as Error).message}`);
  }
  if (st?.isSymbolicLink()) return { path, link: readlinkSync(path), dirExists: true };
  if (st) {
    try {
      return { path, content: decode(scratch.read(path)), dirExists: true };
    } catch (err) {
      // Gone since the lstat: absent.
      if (code(err) !== 'ENOENT' && code(err) !== 'ENOTDIR') throw new Error(`${path}: ${(err as Error).message}`);
    }
  }
  const dir = dirOf(path);
  let dirExists = dirs.get(dir);
  if (dirExists === undefined) dirs.set(dir, (dirExists = isDir(dir)));
  return { path, dirExists };
}

/** The first line of a regular file (at most its first 4 KiB); undefined when there is none. */
function firstLine(path: string): string | undefined {
  try {
    if (!lstatSync(path).isFile()) return '';
  } catch (err) {
    if (code(err) === 'ENOENT') return undefined;
    throw err;
  }
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(4096);
    const n = readSync(fd, buf, 0, buf.length, 0);
    const text = buf.subarray(0, n).toString('utf8');
    const nl = text.indexOf('\n');
    return nl < 0 ? text : text.slice(0, nl);
  } finally {
    closeSync(fd);
  }
}

/** Absent, or tsnet's for `owner`. */
const mayReplace = (path: string, owner: string): boolean => {
  const first = firstLine(path);
  return first === undefined || isMarkerOf(first, owner);
};

/** A hosts link may replace: nothing, a link into the owner's topology's shared directory, or a file with the owner's marker. */
function mayLink(path: string, owner: string): boolean {
  let isLink: boolean;
  try {
    isLink = lstatSync(path).isSymbolicLink();
  } catch (err) {
    if (code(err) === 'ENOENT') return true;
    throw err;
  }
  if (!isLink) return mayReplace(path, owner);
  return isSharedTarget(readlinkSync(path), owner.slice(0, owner.indexOf(':')));
}

/**
 * Makes `path` anew through a temp name beside it, renamed over it: a reader sees the old file
 * or link, or the new one, never half of one. The temp name goes if anything fails.
 */
function replaceWhole(path: string, n: number, make: (tmp: string) => void): void {
  const dir = dirOf(path);
  if (!isDir(dir)) mkdirSync(dir, { recursive: true, mode: 0o755 });
  const tmp = `${dir}/.tsnet.${process.pid}.${n}`;
  try {
    make(tmp);
    renameSync(tmp, path);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      // Never made, or already renamed.
    }
    throw err;
  }
}

/** A link made beside the path, then renamed over it. */
function linkWhole(path: string, target: string, n: number): void {
  replaceWhole(path, n, (tmp) => symlinkSync(target, tmp));
}

/** Whether something (a link too, even one to nothing) is at the path. */
function present(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch (err) {
    if (code(err) === 'ENOENT') return false;
    throw err;
  }
}

function writeWhole(path: string, parts: readonly Buffer[], n: number): void {
  replaceWhole(path, n, (tmp) => {
    const fd = openSync(tmp, 'w', 0o644);
    try {
      for (const data of parts) writeSync(fd, data);
      fchmodSync(fd, 0o644);
    } finally {
      closeSync(fd);
    }
  });
}

/** One operation of the file tool's protocol; a message when it fails. */
function applyOp(o: FileOp, n: number): string | undefined {
  const { op, path, owner = '' } = o;
  try {
    switch (op) {
      case 'write':
        if (!mayReplace(path, owner)) return `${path} is not tsnet's to overwrite: its first line is not tsnet's marker for it`;
        writeWhole(path, [Buffer.from(o.head ?? '', 'base64'), Buffer.from(o.body ?? '', 'base64')], n);
        return undefined;
      case 'remove':
        if (!mayReplace(path, owner)) return `${path} is not tsnet's to remove: its first line is not tsnet's marker for it`;
        if (firstLine(path) !== undefined) unlinkSync(path);
        return undefined;
      case 'link':
        if (!mayLink(path, owner)) return `${path} is not tsnet's to replace: it is not a link into tsnet's directory nor a file with tsnet's marker for it`;
        linkWhole(path, o.target ?? '', n);
        return undefined;
      case 'unlink':
        if (!mayLink(path, owner)) return `${path} is not tsnet's to remove: it is not a link into tsnet's directory nor a file with tsnet's marker for it`;
        if (present(path)) unlinkSync(path);
        return undefined;
      case 'rmdir':
        try {
          rmdirSync(path);
        } catch {
          // Not empty, or gone: left as it is (the script's `rmdir ... || :`).
        }
        return undefined;
      default:
        return `unknown operation ${op}`;
    }
  } catch (err) {
    return `cannot ${op} ${path}: ${(err as Error).message}`;
  }
}

export const LOCAL_FILES: FileAccess = {
  read(paths) {
    const dirs = new Map<string, boolean>();
    const decode = fileDecoder();
    const scratch = new Scratch();
    const out = new Map<string, KFile>();
    for (const p of paths) {
      if (p.endsWith('/')) for (const f of readShared(p, decode, scratch)) out.set(f.path, f);
      else out.set(p, readOne(p, dirs, decode, scratch));
    }
    return out;
  },
  apply(ops, mode) {
    const out: string[] = [];
    const err: string[] = [];
    let exitCode = 0;
    for (let i = 0; i < ops.length; i++) {
      const why = applyOp(ops[i]!, i + 1);
      if (why === undefined) {
        out.push(`ok ${i + 1}`);
        continue;
      }
      err.push(`-:${i + 1}: ${why}`);
      exitCode = 1;
      if (mode === 'stop') break;
    }
    return { stdout: out.map((l) => `${l}\n`).join(''), stderr: err.map((l) => `${l}\n`).join(''), exitCode };
  },
};
