// tsnet destroy FILE: remove everything the topology owns, in reverse order, and nothing else.
// tsnet destroy --name NAME: the same for a topology whose file is gone (src/engine/orphan.ts).
import { existsSync } from 'node:fs';
import { topologySchema } from '../../model/schema.js';
import { closeRunners, planSession, type Session } from '../../engine/index.js';
import { orphanSession } from '../../engine/orphan.js';
import { appliedPath, readApplied, removeApplied, viaText } from '../applied.js';
import { withEngineErrors } from '../engine-errors.js';
import { ExitError } from '../errors.js';
import { runPlan } from '../run-plan.js';
import { lockName, lockTopology } from './apply.js';

export interface DestroyOptions {
  autoApprove?: boolean;
  json?: boolean;
  quiet?: boolean;
  lockTimeout?: string;
  /** false with --no-refresh. */
  refresh?: boolean;
  /** --name: the topology to destroy without its file. */
  name?: string;
}

export async function destroyCommand(file: string | undefined, opts: DestroyOptions): Promise<void> {
  if (file !== undefined && opts.name !== undefined) throw new ExitError('give a topology file or --name NAME, not both');
  if (opts.name !== undefined) return destroyByName(opts.name, opts);
  if (file === undefined) throw new ExitError('give the topology file to destroy, or --name NAME when the file is gone');
  const { lock, loaded } = await lockTopology(file, `tsnet destroy ${file}`, opts.json, opts.lockTimeout);
  try {
    const s = await withEngineErrors(opts.json, () => planSession(file, 'destroy', { loaded, refresh: opts.refresh !== false }));
    await runAndForget(s, file, opts);
  } finally {
    lock.release();
  }
}

/** Runs the destroy plan; once it succeeded the apply record goes too (tsnet list). */
async function runAndForget(s: Session, label: string, opts: DestroyOptions): Promise<void> {
  try {
    await runPlan(s, label, 'destroy', opts);
  } finally {
    await closeRunners(s.runners);
  }
  removeApplied(s.topology.name);
}

const NAME_PATTERN = new RegExp(topologySchema.properties.name.pattern);

async function destroyByName(name: string, opts: DestroyOptions): Promise<void> {
  if (!NAME_PATTERN.test(name) || name.length > topologySchema.properties.name.maxLength) {
    throw new ExitError(`--name: "${name}" is not a topology name (lowercase letters, digits and "-", at most ${topologySchema.properties.name.maxLength})`);
  }
  if (opts.refresh === false) throw new ExitError('--no-refresh cannot be used with --name: without the file every host is read');
  const record = readApplied(name);
  const notes = record
    ? [
        `Hosts from the record of the last apply of "${name}" (${record.applied_at}, from ${record.file}): ${record.hosts.map((h) => `${h.name} (${viaText(h.via)})`).join(', ')}.`,
        ...(existsSync(record.file) ? [`${record.file} still exists: "tsnet destroy ${record.file}" does the same from the file.`] : []),
      ]
    : [`No record of the last apply of "${name}" (${appliedPath(name)}).`];
  const hosts = record?.hosts ?? [{ name: 'local', via: { kind: 'local' as const } }];
  const lock = await lockName(name, hosts, `tsnet destroy --name ${name}`, opts.lockTimeout);
  try {
    const s = await withEngineErrors(opts.json, () => orphanSession(name, { ...(record ? { hosts: record.hosts } : {}), label: name, notes }));
    await runAndForget(s, name, opts);
  } finally {
    lock.release();
  }
}
