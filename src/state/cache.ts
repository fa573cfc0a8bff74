// The state cache: what the last verified apply (or full plan) read inside each namespace of
// this machine, kept in <state dir>/<topology>.state.json (tmpfs, like /run/netns: both go
// with a reboot). `plan --no-refresh` and `apply --no-refresh` use it instead of entering every
// namespace again, as terraform's -refresh=false uses its state file.
//
// A cached namespace is used only while it is the same kernel object: the inode of
// /run/netns/<name> and that inode's ctime (to the nanosecond) must not have changed. The
// inode alone is not enough: the kernel hands a freed namespace's number to the next one (seen
// here), but the new one's inode is made later. A namespace deleted and made again, by tsnet
// or by hand, is read afresh. What changed by hand inside an unchanged namespace is not seen:
// that is what --no-refresh trades for speed, and the plan says so.
import { readFileSync, statSync, writeFileSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { stateDir } from '../executor/journal.js';
import { NETNS_DIR } from './runner.js';
import type { KNamespace, LiveState } from './types.js';

/** 3: link details as the drivers read them (`details`); 4: qdiscs (`qdisc`, `qdiscs`). */
const CACHE_VERSION = 4;

interface CacheFile {
  version: number;
  topology: string;
  /** Namespaces of this machine by name, each with the inode it had when read. */
  namespaces: Record<string, { id: string; state: KNamespace }>;
}

const cachePath = (topology: string) => join(stateDir(), `${topology}.state.json`);

/** The identity of a named namespace: "<inode>:<ctime in ns>" of its nsfs inode. */
export function netnsIdentity(name: string): string | undefined {
  try {
    const st = statSync(`${NETNS_DIR}/${name}`, { bigint: true });
    return `${st.ino}:${st.ctimeNs}`;
  } catch {
    return undefined;
  }
}

/** Saves the namespaces of this machine (local and netns hosts) as read. */
export function saveCache(topology: string, live: LiveState, localHosts: ReadonlySet<string>): void {
  const namespaces: CacheFile['namespaces'] = {};
  for (const [host, state] of live.hosts) {
    if (!localHosts.has(host)) continue;
    for (const [name, ns] of state.namespaces) {
      const id = netnsIdentity(name);
      if (id !== undefined) namespaces[name] = { id, state: ns };
    }
  }
  const file: CacheFile = { version: CACHE_VERSION, topology, namespaces };
  try {
    mkdirSync(stateDir(), { recursive: true, mode: 0o700 });
    const path = cachePath(topology);
    writeFileSync(`${path}.tmp`, JSON.stringify(file));
    renameSync(`${path}.tmp`, path);
  } catch {
    // A cache that cannot be written only makes the next --no-refresh read everything; its
    // temporary file must not keep taking the room of a full directory.
    rmSync(`${cachePath(topology)}.tmp`, { force: true });
  }
}

/** Cached namespaces that are still the same kernel objects, by name. */
export function loadCache(topology: string): Map<string, KNamespace> {
  let file: CacheFile;
  try {
    file = JSON.parse(readFileSync(cachePath(topology), 'utf8')) as CacheFile;
  } catch {
    return new Map();
  }
  if (file.version !== CACHE_VERSION || file.topology !== topology) return new Map();
  const out = new Map<string, KNamespace>();
  for (const [name, { id, state }] of Object.entries(file.namespaces)) {
    if (netnsIdentity(name) === id) out.set(name, state);
  }
  return out;
}
