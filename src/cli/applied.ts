// The record of a topology's last successful apply, <state dir>/<topology>.applied.json: when,
// from which file (absolute path), onto which hosts. `tsnet list` shows the time and file;
// `tsnet destroy --name` takes the hosts from it once the file is gone. Written by the CLI
// after an apply succeeds, removed after a destroy succeeds. A missing or unreadable record is
// "unknown", never an error: it is a convenience, the kernel's marks are the truth.
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { stateDir } from '../executor/journal.js';
import type { Host, Via } from '../model/types.js';

export const APPLIED_VERSION = 1;
const SUFFIX = '.applied.json';

export interface AppliedRecord {
  version: number;
  topology: string;
  /** Absolute path of the topology file. */
  file: string;
  /** ISO time the apply finished. */
  applied_at: string;
  hosts: Host[];
}

export const appliedPath = (topology: string, dir = stateDir()): string => join(dir, `${topology}${SUFFIX}`);

export function writeApplied(topology: string, file: string, hosts: readonly Host[], at = new Date(), dir = stateDir()): void {
  const record: AppliedRecord = { version: APPLIED_VERSION, topology, file: resolve(file), applied_at: at.toISOString(), hosts: hosts.map(hostRecord) };
  mkdirSync(dir, { recursive: true });
  const path = appliedPath(topology, dir);
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, `${JSON.stringify(record, null, 2)}\n`);
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true }); // a full directory keeps no half-written temporary file
    throw err;
  }
}

export function removeApplied(topology: string, dir = stateDir()): void {
  rmSync(appliedPath(topology, dir), { force: true });
}

const hostRecord = (h: Host): Host => ({ name: h.name, via: h.via, ...(h.underlay ? { underlay: h.underlay } : {}) });

function isVia(v: unknown): v is Via {
  if (!v || typeof v !== 'object') return false;
  const o = v as Record<string, unknown>;
  return o.kind === 'local' || (o.kind === 'ssh' && typeof o.destination === 'string') || (o.kind === 'netns' && typeof o.netns === 'string');
}

/** A record as read from disk, or undefined when it is missing or not one tsnet wrote. */
export function parseApplied(text: string, topology: string): AppliedRecord | undefined {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return undefined;
  }
  const r = data as Partial<AppliedRecord>;
  if (r?.version !== APPLIED_VERSION || r.topology !== topology || typeof r.file !== 'string' || typeof r.applied_at !== 'string' || !Array.isArray(r.hosts)) return undefined;
  if (!r.hosts.every((h) => h && typeof h.name === 'string' && isVia(h.via))) return undefined;
  return r as AppliedRecord;
}

export function readApplied(topology: string, dir = stateDir()): AppliedRecord | undefined {
  try {
    return parseApplied(readFileSync(appliedPath(topology, dir), 'utf8'), topology);
  } catch {
    return undefined;
  }
}

/** Every record in the state directory, by topology. */
export function readAllApplied(dir = stateDir()): Map<string, AppliedRecord> {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith(SUFFIX));
  } catch {
    return new Map();
  }
  const out = new Map<string, AppliedRecord>();
  for (const n of names.sort()) {
    const topology = n.slice(0, -SUFFIX.length);
    const r = readApplied(topology, dir);
    if (r) out.set(topology, r);
  }
  return out;
}

/** "local", "ssh root@h2", "netns lab-h1": as the file's `via` says it. */
export const viaText = (via: Via): string => (via.kind === 'local' ? 'local' : via.kind === 'ssh' ? `ssh ${via.destination}` : `netns ${via.netns}`);
