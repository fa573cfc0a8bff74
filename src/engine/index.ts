// The flow of DESIGN.md in one place: load -> read -> normalize with what is held -> expand ->
// plan -> execute -> verify. The CLI, the kernel tests and the benchmark all go through here.
import { existsSync } from 'node:fs';
import type { Diagnostic } from '../model/diagnostics.js';
import { hasErrors } from '../model/diagnostics.js';
import { loadFile, renormalize, type LoadResult } from '../model/load.js';
import type { Host, Topology } from '../model/types.js';
import { driverFor } from '../appliers/registry.js';
import { qdiscNeeds } from '../appliers/qdisc.js';
import { qdiscPlanErrors } from '../state/qdisc-probe.js';
import { expand, type Desired, type Spec } from '../planner/desired.js';
import { plan as makePlan } from '../planner/plan.js';
import type { Interrupted, Plan } from '../planner/types.js';
import { execute, type ExecEvent, type ExecuteResult } from '../executor/execute.js';
import { Journal, type JournalRecord, journalClosed, journalDone, journalRolledBack, journalRollingBack, journalStarted, journalUndoBegun } from '../executor/journal.js';
import { isAlive } from '../executor/proc.js';
import { legacyObjects } from '../executor/tools/ip.js';
import { attachPids, type Attached } from '../state/attach.js';
import { snapshot } from '../state/fingerprint.js';
import { relevantUndoErrors, rollbackReport } from './rollback-report.js';
import { loadCache, saveCache } from '../state/cache.js';
import { heldFrom } from '../state/held.js';
import { natTableName } from '../state/nft.js';
import { firewallHostSysctls } from '../model/firewall.js';
import { parseMark } from '../state/ownership.js';
import { phase } from '../timing.js';
import { ETC_NETNS, namesPaths, readFiles, SHARED_DIR, sharedDir } from '../state/files.js';
import { defaultConcurrency, readNamespace, readNamesFiles, readNatOf, readQdiscs, readState, readSysctls, StateReadError, type QdiscJob, type ReadOptions } from '../state/read.js';
import { runnerFor, type Runner } from '../state/runner.js';
import type { HostState, KNamespace, LiveState } from '../state/types.js';

/** The file did not pass validation: the diagnostics say why. */
export class InvalidTopologyError extends Error {
  constructor(
    readonly diagnostics: Diagnostic[],
    readonly sources: Map<string, string>,
  ) {
    super('invalid topology');
    this.name = 'InvalidTopologyError';
  }
}

export interface EngineOptions {
  /**
   * false: take the namespaces the last apply verified from the state cache instead of reading
   * them again (--no-refresh); drift inside them is not seen.
   */
  refresh?: boolean;
  /** The file, already loaded and checked (apply loads it once to take the lock). */
  loaded?: LoadResult & { topology: Topology };
  /** How hosts are reached; tests wrap runners to inject failures. */
  runnerFactory?: (host: Host) => Runner;
  concurrency?: number;
  /** apply --adopt: take unmarked objects matching what the plan makes as tsnet's (adoptAll). */
  adopt?: boolean;
}

export interface Session {
  load: LoadResult;
  topology: Topology;
  runners: Map<string, Runner>;
  live: LiveState;
  desired: Desired;
  plan: Plan;
  readOptions: ReadOptions;
}

export type Mode = 'apply' | 'destroy';

/** Loads the file and checks it; throws InvalidTopologyError with every diagnostic. */
export async function loadChecked(file: string): Promise<LoadResult & { topology: Topology }> {
  const load = await loadFile(file);
  if (!load.topology || hasErrors(load.diagnostics)) throw new InvalidTopologyError(load.diagnostics, new Map([[file, load.source.text]]));
  return load as LoadResult & { topology: Topology };
}

export function runnersFor(topology: Topology, opts: EngineOptions = {}): Map<string, Runner> {
  const factory = opts.runnerFactory ?? runnerFor;
  return new Map([...topology.hosts.values()].map((h) => [h.name, factory(h)]));
}

/** What to read besides links, addresses and routes: sysctls of sandboxes, what the drivers need. */
export function readOptionsFor(topology: Topology, concurrency?: number): ReadOptions {
  const sysctls = new Map<string, string[]>();
  for (const sb of topology.sandboxes.values()) {
    if (sb.ownsNetns && sb.netns && Object.keys(sb.sysctls).length) sysctls.set(sb.netns, Object.keys(sb.sysctls));
  }
  const overlayHosts = new Set<string>();
  const hostSysctls = new Set<string>();
  for (const net of topology.networks.values()) {
    const d = driverFor(net.driver);
    if (d.read.hostEntries) for (const h of net.hosts) overlayHosts.add(h);
    for (const key of d.read.hostSysctls?.(net) ?? []) hostSysctls.add(key);
  }
  for (const key of firewallHostSysctls(topology)) hostSysctls.add(key);
  if (hostSysctls.size) sysctls.set('', [...hostSysctls].sort());
  const listenersOn = new Set(topology.firewall?.ports.map((p) => p.host) ?? []);
  // tsnet's nftables table is read on every host, so that NAT taken out of the file is removed.
  return { sysctls, overlayHosts, natTable: natTableName(topology.name), qdiscsOf: topology.name, ...(listenersOn.size ? { listenersOn } : {}), names: namesToRead(topology), ...(concurrency ? { concurrency } : {}) };
}

/** The names files to read: those of the namespaces tsnet makes, by host (and those of the namespaces it owns: see ReadOptions). */
function namesToRead(topology: Topology): NonNullable<ReadOptions['names']> {
  const namespaces = new Map<string, string[]>();
  for (const sb of topology.sandboxes.values()) if (sb.ownsNetns && sb.netns) namespaces.set(sb.host, [...(namespaces.get(sb.host) ?? []), sb.netns]);
  return { topology: topology.name, namespaces };
}

export const machinesOf = (runners: ReadonlyMap<string, Runner>): Map<string, string> =>
  new Map([...runners.values()].map((r) => [r.host, r.machine]));

/** Reads the kernel and plans: the whole of `tsnet plan`. */
export async function planSession(file: string, mode: Mode, opts: EngineOptions = {}): Promise<Session> {
  phase('start');
  const first = opts.loaded ?? (await loadChecked(file));
  phase('load');
  if ([...first.topology.hosts.values()].some((h) => h.via.kind === 'ssh')) await import('../state/ssh.js');
  const runners = runnersFor(first.topology, opts);
  const readOptions = readOptionsFor(first.topology, opts.concurrency);
  const cached = opts.refresh === false ? loadCache(first.topology.name) : undefined;
  if (cached?.size) readOptions.cached = cached;
  let live: LiveState;
  let load: LoadResult;
  let attached: Attached = { errors: [] };
  try {
    attached = await attachPids(first.topology, runners);
    live = await readState([...runners.values()], readOptions);
    phase('read');
    load = renormalize(first, heldFrom(live, first.topology.name));
    phase('normalize');
    if (!load.topology) throw new InvalidTopologyError(load.diagnostics, new Map([[file, load.source.text]]));
  } catch (err) {
    await closeRunners(runners);
    throw err;
  }
  const topology = load.topology;
  const desired: Desired =
    mode === 'destroy' ? new Map([...topology.hosts.keys()].map((h) => [h, new Map<string, Spec>()])) : expand(topology);
  const journal = journalState(topology.name);
  let interrupted = journal.interrupted;
  let plan = planFor(topology, desired, live, runners, { ...(interrupted ? { interrupted } : {}), destroy: mode === 'destroy' });
  if (opts.adopt) {
    // What the file makes, planned as if the unmarked objects were not there (they clash).
    interrupted = adoptAll(planFor(topology, desired, withoutUnmarked(live), runners, { destroy: mode === 'destroy' }));
    plan = planFor(topology, desired, live, runners, { interrupted, destroy: mode === 'destroy' });
  } else if (journal.damage) (plan.notes ??= []).unshift(damagedJournalNote(journal.damage, file));
  if (mode === 'apply') plan.errors.push(...unknownSysctls(topology, runners), ...(await qdiscPlanErrors(qdiscNeeds(desired), runners)));
  plan.errors.push(...attached.errors);
  phase('plan');
  if (cached?.size) {
    const used = [...live.hosts.values()].reduce((n, h) => n + [...h.namespaces.keys()].filter((k) => cached.has(k)).length, 0);
    if (used)
      (plan.notes ??= []).push(
        `--no-refresh: ${used} namespace${used === 1 ? ' was' : 's were'} taken from the state the last apply verified, not read again: changes made inside them by hand since are not shown.`,
      );
  }
  return { load, topology, runners, live, desired, plan, readOptions };
}

/**
 * Sysctls of the file that this machine's kernel does not have (a typo, a module not loaded):
 * plan errors, rather than an apply that fails and rolls back. Only for hosts on this machine
 * (the same kernel), and not for per-interface keys (net.ipv4.conf.eth0....), whose interface
 * the apply may make.
 */
export function unknownSysctls(topology: Topology, runners: ReadonlyMap<string, Runner>, procSys = '/proc/sys'): Plan['errors'] {
  const errors: Plan['errors'] = [];
  for (const sb of topology.sandboxes.values()) {
    if (runners.get(sb.host)?.machine !== 'local') continue;
    for (const key of Object.keys(sb.sysctls)) {
      if (/\.(conf|neigh)\.(?!all\.|default\.)[^.]+\./.test(key)) continue;
      const path = `${procSys}/${key.replace(/\./g, '/')}`;
      if (!existsSync(path)) errors.push({ host: sb.host, address: `sandbox.${sb.name}`, message: `sysctl "${key}" does not exist in this kernel (no ${path}): a typo, or a module that is not loaded` });
    }
  }
  return errors;
}

export function planFor(
  topology: Topology,
  desired: Desired,
  live: LiveState,
  runners: ReadonlyMap<string, Runner>,
  opts: { interrupted?: Interrupted; destroy?: boolean } = {},
): Plan {
  return makePlan({
    topology: topology.name,
    hosts: [...topology.hosts.keys()],
    implicitHost: topology.implicitHost,
    desired,
    live,
    machines: machinesOf(runners),
    ...opts,
  });
}

/**
 * The journal of an apply of the topology that was killed (not finished, its process gone), as
 * the next plan reads it: what its steps and its rollback's undo commands that began may have
 * made. Also a run that was rolled back, when it had taken over unmarked objects from an
 * earlier killed run: those stay recognised until a run marks them.
 */
export function interruptedApply(topology: string): Interrupted | undefined {
  return journalState(topology).interrupted;
}

/** The last run's journal as the next plan reads it, and what is wrong with it when it cannot be read. */
export function journalState(topology: string): { interrupted?: Interrupted; damage?: string } {
  const journal = new Journal(topology);
  if (journal.settled() && !journal.rolledBack()) return {};
  const { record, damage } = journal.inspect();
  if (damage) return { damage };
  if (!record) return {};
  return interruptedFrom(record);
}

function interruptedFrom(record: JournalRecord): { interrupted?: Interrupted } {
  const h = record.header;
  const adopted = Array.isArray(h.adopted) ? h.adopted : [];
  if (journalClosed(record)) {
    if (!journalRolledBack(record) || !adopted.length) return {};
    return { interrupted: { pid: h.pid, started: h.started, steps: [], done: [], begun: [], phase: 'rolled-back', adopted } };
  }
  if (h.startTime && isAlive({ pid: h.pid, startTime: h.startTime })) return {}; // still running
  if (!Array.isArray(h.steps) || h.steps.some((st) => !Array.isArray(st.do))) return {}; // a journal of another version
  const version = h.version ?? 1;
  // Steps of journals before version 3 do not say what they make: read from their lines.
  const steps = h.steps.map((st) => ({ ...st, ...(version >= 3 && st.creates && st.marks ? { creates: st.creates, marks: st.marks } : legacyObjects(st)) }));
  const undoCreates = new Map(h.steps.map((st) => [st.id, (st.undo ?? []).flatMap((c) => c.creates ?? [])] as const));
  const interrupted: Interrupted = {
    pid: h.pid,
    started: h.started,
    steps,
    done: journalDone(record),
    begun: version >= 2 ? journalStarted(record) : h.steps.map((st) => st.id),
    phase: journalRollingBack(record) ? 'rollback' : 'apply',
    undoBegun: journalUndoBegun(record),
    undoCreates,
    ...(adopted.length ? { adopted } : {}),
    ...(h.ifindexes && typeof h.ifindexes === 'object' ? { ifindexes: h.ifindexes } : {}),
  };
  return { interrupted };
}

/** What the plan says about a journal it cannot read, and the way out. */
export const damagedJournalNote = (damage: string, file: string): string =>
  `The journal of the last run is damaged: ${damage}. What an interrupted run half made cannot be recognised from it, so unmarked objects under this topology's names are shown as foreign. If they are tsnet's, "tsnet apply --adopt ${file}" takes over the unmarked namespaces and links whose names and kinds match what ${file} makes (shown as a plan to confirm), then repairs them.`;

/**
 * `apply --adopt`: every unmarked namespace and link whose name and kind match what the plan
 * makes is taken as half made by tsnet (as if a killed run had begun every step), within the
 * limits of adoption that need no journal (src/appliers/view.ts: nothing it holds may be
 * foreign). No time witness: a damaged journal's file times say nothing sure about its run. The
 * user confirms the plan, which shows every object taken.
 */
export function adoptAll(plan: Plan): Interrupted {
  return { pid: process.pid, started: '', steps: plan.steps, done: [], begun: plan.steps.map((st) => st.id), source: 'adopt' };
}

/** The live state without unmarked namespaces and links (but lo): what --adopt plans from. */
function withoutUnmarked(live: LiveState): LiveState {
  const marked = (ns: KNamespace): KNamespace => ({ ...ns, links: ns.links.filter((l) => l.ifname === 'lo' || l.alias) });
  return {
    hosts: new Map(
      [...live.hosts].map(([host, state]) => [
        host,
        {
          ...state,
          root: marked(state.root),
          namespaces: new Map([...state.namespaces].filter(([, ns]) => ns.links.find((l) => l.ifname === 'lo')?.alias).map(([name, ns]) => [name, marked(ns)])),
        },
      ]),
    ),
  };
}

export interface ApplyOutcome {
  result: ExecuteResult;
  /** The plan after the apply: empty when the kernel matches. */
  verify?: Plan;
  /** After a rollback: how the owned state differs from before the apply, by resource address (empty: identical). */
  rollbackDiff?: string[];
  /** The undo errors about objects that are not as they were (the others found nothing to undo). */
  rollbackErrors?: string[];
}

/** For each host: which owned namespaces belong to it (as the planner decides). */
export function belongsTo(s: Pick<Session, 'topology' | 'runners'>) {
  const machines = machinesOf(s.runners);
  const hosts = [...s.topology.hosts.keys()];
  return (host: string) => (sandboxAddress: string) => {
    const sb = s.topology.sandboxes.get(sandboxAddress.slice('sandbox.'.length));
    if (!sb) return hosts.find((h) => machines.get(h) === machines.get(host)) === host;
    return sb.host === host || machines.get(sb.host) !== machines.get(host);
  };
}

/** Runs the plan, then checks that a new plan is empty (re-reading with bounded retries). */
export async function applySession(
  s: Session,
  opts: { onEvent?: (e: ExecEvent) => void; journal?: boolean; concurrency?: number; signal?: AbortSignal } = {},
): Promise<ApplyOutcome> {
  const result = await execute(s.plan, {
    runners: s.runners,
    concurrency: opts.concurrency ?? defaultConcurrency(),
    ...(opts.onEvent ? { onEvent: opts.onEvent } : {}),
    ...(opts.journal === false ? {} : { journal: new Journal(s.topology.name) }),
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(s.plan.adopted?.length ? { adopted: s.plan.adopted } : {}),
    ifindexes: ifindexesOf(s),
  });
  phase('execute');
  if (result.stopped?.kind === 'journal' && result.stopped.before) return { result, rollbackDiff: [] }; // nothing ran
  if (!result.ok) {
    // Check the rollback: the owned state must be what it was before the apply. Namespaces are
    // freed in the background, so read again a few times before calling a difference real.
    const before = snapshot(s.live, s.topology.name, s.plan, belongsTo(s));
    let report = rollbackReport([], []);
    for (const wait of [0, 50, 100, 200, 400, 800]) {
      await new Promise((r) => setTimeout(r, wait));
      const after = snapshot(await readState([...s.runners.values()], fullRead(s)), s.topology.name, s.plan, belongsTo(s));
      report = rollbackReport(before.lines, after.lines);
      if (!report.lines.length) break;
    }
    return { result, rollbackDiff: report.lines, rollbackErrors: relevantUndoErrors(result.rollbackErrors, report) };
  }
  let live = await mergeReads(s, result);
  let verify = planFor(s.topology, s.desired, live, s.runners);
  phase('verify');
  // Namespaces are freed by the kernel in the background: their links may outlive `netns del`
  // for a moment. Read again a few times before calling a difference real.
  for (const wait of [50, 100, 200, 400, 800, 1500]) {
    if (!verify.changes.length && !verify.errors.length) break;
    await new Promise((r) => setTimeout(r, wait));
    live = await readState([...s.runners.values()], fullRead(s));
    verify = planFor(s.topology, s.desired, live, s.runners);
  }
  if (!verify.changes.length && !verify.errors.length) {
    // The verified state is what a later --no-refresh starts from.
    const local = new Set([...s.runners.values()].filter((r) => r.machine === 'local').map((r) => r.host));
    saveCache(s.topology.name, live, local);
  }
  return { result, verify };
}

/**
 * The highest ifindex of each host's own stack and of each namespace a step makes links in,
 * as read before the run (for the journal: see JournalHeader.ifindexes).
 */
function ifindexesOf(s: Session): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  const max = (ns: KNamespace | undefined) => (ns ? ns.links.reduce((m, l) => Math.max(m, l.ifindex), 0) : undefined);
  for (const [host, state] of s.live.hosts) {
    const entry: Record<string, number> = { '': max(state.root) ?? 0 };
    for (const st of s.plan.steps) {
      if (st.host !== host) continue;
      for (const o of st.creates) {
        if (o.kind !== 'link' || o.ns === null || o.ns in entry) continue;
        const m = max(state.namespaces.get(o.ns));
        if (m !== undefined) entry[o.ns] = m;
      }
    }
    out[host] = entry;
  }
  return out;
}

/** Sandboxes whose namespace a completed step of the apply deleted on the host. */
function deletedSandboxes(result: ExecuteResult, host: string): Set<string> {
  const gone = new Set<string>();
  for (const st of result.completed) {
    if (st.host !== host) continue;
    for (const o of st.deletes) if (o.kind === 'netns' && o.mark?.startsWith('sandbox.')) gone.add(o.mark.slice('sandbox.'.length));
  }
  return gone;
}

/** True when a completed step changed neighbour or forwarding entries of the host's own stack. */
const entriesChanged = (result: ExecuteResult, host: string): boolean =>
  result.completed.some((st) => st.host === host && st.ns === null && [...st.creates, ...st.deletes].some((o) => o.kind === 'neigh' || o.kind === 'fdb'));

/** Read options that read every namespace (no cache): for checking what an apply did. */
function fullRead(s: Session): ReadOptions {
  const { cached: _cached, ...rest } = s.readOptions;
  return rest;
}

/** The namespaces the batches read back, by machine (netns hosts share one machine's namespaces). */
function readBackByMachine(s: Session, result: ExecuteResult): Map<string, Map<string, KNamespace>> {
  const byMachine = new Map<string, Map<string, KNamespace>>();
  for (const [host, reads] of result.reads) {
    const machine = s.runners.get(host)!.machine;
    const m = byMachine.get(machine) ?? new Map<string, KNamespace>();
    for (const [ns, state] of reads) if (ns !== '') m.set(ns, state);
    byMachine.set(machine, m);
  }
  return byMachine;
}

/**
 * Sysctls are not part of the read-back: the namespaces whose sysctls this apply wrote are read
 * again (what the kernel holds, not what was written: two names for one value, such as
 * ip_forward and conf.all.forwarding, may not both win). Keyed by machine and namespace.
 */
async function sysctlsWritten(s: Session, result: ExecuteResult): Promise<Map<string, Record<string, string>>> {
  const machineOf = (host: string) => s.runners.get(host)!.machine;
  const wrote = new Map(result.completed.filter((st) => st.tool === 'sysctl' && st.ns).map((st) => [`${machineOf(st.host)}\u0000${st.ns}`, st] as const));
  const now = new Map<string, Record<string, string>>();
  await Promise.all(
    [...wrote].map(async ([key, st]) => {
      const keys = s.readOptions.sysctls?.get(st.ns!) ?? [];
      if (keys.length) now.set(key, await readSysctls(s.runners.get(st.host)!, st.ns, keys, `namespace "${st.ns}" on host "${st.host}"`));
    }),
  );
  return now;
}

interface Merging {
  s: Session;
  result: ExecuteResult;
  byMachine: Map<string, Map<string, KNamespace>>;
  sysctlsNow: Map<string, Record<string, string>>;
  listed: Map<string, string[]>;
}

/** A host's namespaces after the apply: read back, else as before, else read now. */
async function namespacesAfter(m: Merging, host: string, runner: Runner): Promise<Map<string, KNamespace>> {
  if (!m.listed.has(runner.machine)) m.listed.set(runner.machine, await runner.listNetns());
  const before = m.s.live.hosts.get(host)!;
  const fresh = m.byMachine.get(runner.machine) ?? new Map<string, KNamespace>();
  const namespaces = new Map<string, KNamespace>();
  const hostNetns = new Set([...m.s.runners.values()].flatMap((r) => ('netns' in r && r.machine === runner.machine ? [(r as { netns: string }).netns] : [])));
  for (const name of m.listed.get(runner.machine)!) {
    if (hostNetns.has(name)) continue;
    let ns = fresh.get(name) ?? before.namespaces.get(name);
    if (!ns) {
      ns = await readNamespace(runner, name, { sysctls: m.s.readOptions.sysctls?.get(name) ?? [] });
      fresh.set(name, ns);
    }
    // What was read after writing first; then what this read holds; then what was read before.
    const sysctls = m.sysctlsNow.get(`${runner.machine}\u0000${name}`) ?? (Object.keys(ns.sysctls).length ? ns.sysctls : before.namespaces.get(name)?.sysctls ?? {});
    namespaces.set(name, { ...ns, sysctls });
  }
  return namespaces;
}

/**
 * The host's own stack after the apply: the read-back has links, addresses and routes;
 * forwarding and neighbour entries (overlays) are read again only where this apply changed them.
 * The host ends of the veths of a namespace this apply deleted are left out: the kernel frees
 * them with the namespace, in the background, a moment after `netns del`; they are on their way
 * out, not a difference to report (or to wait for).
 */
async function rootAfter(m: Merging, host: string, runner: Runner): Promise<KNamespace> {
  const { s, result } = m;
  const before = s.live.hosts.get(host)!;
  const rootRead = result.reads.get(host)?.get('');
  const root: KNamespace = entriesChanged(result, host)
    ? await readNamespace(runner, null, { sysctls: s.readOptions.sysctls?.get('') ?? [], entries: s.readOptions.overlayHosts?.has(host) ?? false })
    : rootRead
      ? { ...rootRead, fdb: before.root.fdb, neigh: before.root.neigh, sysctls: before.root.sysctls }
      : { ...before.root };
  const gone = deletedSandboxes(result, host);
  // Links the apply made in the host's stack under such a name (the endpoint made again) stay.
  const made = new Set(result.completed.flatMap((st) => (st.host === host ? st.creates.filter((o) => o.kind === 'link' && o.ns === null).map((o) => o.name) : [])));
  root.links = root.links.filter((l) => {
    const mark = parseMark(l.alias);
    if (mark?.topology !== s.topology.name || !mark.address.startsWith('endpoint.') || made.has(l.ifname)) return true;
    return !gone.has(mark.address.split('.')[1]!);
  });
  return root;
}

/** tsnet's nftables table after the apply: read again where this apply changed it. */
async function natAfter(m: Merging, host: string, runner: Runner, state: HostState): Promise<void> {
  const before = m.s.live.hosts.get(host)!;
  if (m.s.readOptions.natTable !== undefined && m.result.completed.some((st) => st.host === host && st.tool === 'nft')) {
    const nat = await readNatOf(runner, m.s.readOptions.natTable);
    state.nat = nat.table;
    if (nat.unavailable) state.natUnavailable = nat.unavailable;
    return;
  }
  if (before.nat !== undefined) state.nat = before.nat;
  if (before.natUnavailable !== undefined) state.natUnavailable = before.natUnavailable;
}

/**
 * The names files after the apply: those of the namespaces whose files this apply wrote or
 * removed, and the topology's shared directory, read again; the rest as before (adding a
 * sandbox to a thousand reads two paths and one file again, not two thousand paths).
 */
async function filesAfter(m: Merging, host: string, runner: Runner, state: HostState): Promise<void> {
  const before = m.s.live.hosts.get(host)!.files;
  const names = m.s.readOptions.names;
  const steps = m.result.completed.filter((st) => st.host === host && st.tool === 'file');
  if (!names || !steps.length) {
    if (before) state.files = before;
    return;
  }
  if (!before) {
    state.files = await readNamesFiles(runner, names, state.namespaces);
    return;
  }
  const namespaces = new Set<string>();
  for (const st of steps) for (const line of st.do) if (line[1]?.startsWith(`${ETC_NETNS}/`) && !line[1].startsWith(`${SHARED_DIR}/`) && line[1] !== SHARED_DIR) namespaces.add(line[1].split('/')[3]!);
  const fresh = await readFiles(runner, namesPaths(namespaces, names.topology));
  const shared = `${sharedDir(names.topology)}/`;
  const files = new Map([...before].filter(([path]) => !path.startsWith(shared)));
  for (const [path, f] of fresh) files.set(path, f);
  state.files = files;
}

/** The state after an apply: what the batches read back, the rest from before, new ones read now. */
async function mergeReads(s: Session, result: ExecuteResult): Promise<LiveState> {
  const m: Merging = { s, result, byMachine: readBackByMachine(s, result), sysctlsNow: await sysctlsWritten(s, result), listed: new Map() };
  const hosts = new Map<string, HostState>();
  for (const [host, runner] of s.runners) {
    const state: HostState = { host, root: await rootAfter(m, host, runner), namespaces: await namespacesAfter(m, host, runner) };
    await natAfter(m, host, runner, state);
    await filesAfter(m, host, runner, state);
    hosts.set(host, state);
  }
  await qdiscsAfter(m, hosts);
  return { hosts };
}

/**
 * Qdiscs after the apply: a namespace where tc ran is read again (its read-back came before the
 * tc steps), and tc reads the qdiscs where a link of the topology holds a non-default one.
 */
async function qdiscsAfter(m: Merging, hosts: Map<string, HostState>): Promise<void> {
  const jobs: QdiscJob[] = [];
  const tcRan = new Set(m.result.completed.filter((st) => st.tool === 'tc').map((st) => `${st.host}\u0000${st.ns ?? ''}`));
  for (const [host, state] of hosts) {
    const runner = m.s.runners.get(host)!;
    const again = async (ns: KNamespace): Promise<KNamespace> =>
      tcRan.has(`${host}\u0000${ns.name ?? ''}`) ? { ...(await readNamespace(runner, ns.name)), sysctls: ns.sysctls, fdb: ns.fdb, neigh: ns.neigh } : ns;
    state.root = await again(state.root);
    for (const [name, ns] of state.namespaces) state.namespaces.set(name, await again(ns));
    for (const ns of [state.root, ...state.namespaces.values()]) if (ns.links.some((l) => !l.qdiscs)) jobs.push({ runner, ns });
  }
  await readQdiscs(jobs, m.s.topology.name);
}

export async function closeRunners(runners: ReadonlyMap<string, Runner>): Promise<void> {
  await Promise.all([...runners.values()].map((r) => r.close()));
}

export { StateReadError };
