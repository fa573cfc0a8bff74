// Short-lived listeners for port checks: one process per (host, namespace, protocol, port),
// bound to exactly the checked addresses, started before the probes and stopped after them.
// An address something else already listens on (a real service) is left to it and reported.
import type { Attached, Runner } from '../state/runner.js';
import type { ListenerState } from './classify.js';
import type { Probe } from './probes.js';
import { missingTool, programArgv, type HostTools } from './tools.js';
import { within } from './within.js';

export interface ListenerGroup {
  host: string;
  ns: string | null;
  proto: 'tcp' | 'udp';
  port: number;
  addresses: string[];
}

/** What became of each address of a group. */
export interface ListenerReport extends Omit<ListenerGroup, 'addresses'> {
  address: string;
  state: ListenerState;
}

export interface Running {
  reports: ListenerReport[];
  /** Stops the listeners (each at most a few seconds). */
  stop(): Promise<void>;
}

const key = (host: string, ns: string | null, proto: string, port: number) => `${host}\u0000${ns ?? ''}\u0000${proto}\u0000${port}`;

/** The listeners the probes need, one group per namespace, protocol and port. */
export function listenerGroups(probes: readonly Probe[]): ListenerGroup[] {
  const groups = new Map<string, ListenerGroup>();
  for (const p of probes) {
    if (!p.port || !p.listenAt) continue;
    const k = key(p.listenAt.host, p.listenAt.ns, p.port.proto, p.port.number);
    const g = groups.get(k) ?? { host: p.listenAt.host, ns: p.listenAt.ns, proto: p.port.proto, port: p.port.number, addresses: [] };
    if (!g.addresses.includes(p.address)) g.addresses.push(p.address);
    groups.set(k, g);
  }
  return [...groups.values()];
}

/** The listener state of a probe's address. */
export function listenerFor(reports: readonly ListenerReport[], p: Probe): ListenerState | undefined {
  if (!p.port) return undefined;
  if (!p.listenAt) return { kind: 'none', why: `nothing of the file holds ${p.address}` };
  const r = reports.find((x) => x.host === p.listenAt!.host && x.ns === p.listenAt!.ns && x.proto === p.port!.proto && x.port === p.port!.number && x.address === p.address);
  return r?.state;
}

interface ListenerLine {
  pid: number;
  ready: string[];
  busy: string[];
  failed: { address: string; code: string }[];
}


/** Starts one group's listener and waits for its line (which addresses it holds). */
async function startOne(runner: Runner, tools: HostTools, g: ListenerGroup, lifetimeMs: number): Promise<{ reports: ListenerReport[]; stop: () => Promise<void> }> {
  const each = (state: (a: string) => ListenerState) => g.addresses.map((address) => ({ host: g.host, ns: g.ns, proto: g.proto, port: g.port, address, state: state(address) }));
  const missing = missingTool(runner, tools, 'client');
  if (missing || !runner.attach) return { reports: each(() => ({ kind: 'none', why: missing ?? 'this host cannot start one' })), stop: async () => {} };
  let out = '';
  let err = '';
  let settle!: (line: string | undefined) => void;
  const first = new Promise<string | undefined>((r) => (settle = r));
  let child: Attached;
  try {
    child = await runner.attach(programArgv(tools.client!, 'listener', [g.proto, String(g.port), String(lifetimeMs), ...g.addresses]), {
      ns: g.ns,
      stdio: 'pipe',
      onStdout: (c) => {
        out += c.toString('utf8');
        if (out.includes('\n')) settle(out.split('\n')[0]);
      },
      onStderr: (c) => (err += c.toString('utf8')),
    });
  } catch (e) {
    return { reports: each(() => ({ kind: 'none', why: (e as Error).message })), stop: async () => {} };
  }
  void child.done.then(() => settle(undefined));
  const line = await within(first, 10_000);
  let parsed: ListenerLine | undefined;
  try {
    parsed = line ? (JSON.parse(line) as ListenerLine) : undefined;
  } catch {
    parsed = undefined;
  }
  if (!parsed) {
    child.kill('SIGKILL');
    const why = err.trim().split('\n').pop() || 'the listener did not start';
    return { reports: each(() => ({ kind: 'none', why })), stop: async () => {} };
  }
  const p = parsed;
  const reports = each((a) =>
    p.ready.includes(a) ? { kind: 'tsnet' } : p.busy.includes(a) ? { kind: 'service' } : { kind: 'none', why: `cannot listen on ${a}: ${p.failed.find((f) => f.address === a)?.code ?? 'unknown'}` },
  );
  const stop = async () => {
    if (!p.ready.length) return; // it ended by itself
    // By pid, through the host's runner: over ssh, a signal to the local ssh client (a client of
    // the run's ControlMaster) does not end the remote command.
    await runner.run(['sh', '-c', 'kill -TERM "$1" 2>/dev/null; exit 0', 'sh', String(p.pid)]).catch(() => undefined);
    if (!(await within(child.done, 3000))) child.kill('SIGKILL');
  };
  return { reports, stop };
}

/**
 * Starts every group's listener (at most `parallel` at once); stop() ends them all. `stopper`
 * is told the stop function before the first listener starts, so a signal that arrives while
 * they start stops the starting and ends those already running (none is left to its lifetime).
 */
export async function startListeners(
  groups: readonly ListenerGroup[],
  runners: ReadonlyMap<string, Runner>,
  tools: ReadonlyMap<string, HostTools>,
  opts: { lifetimeMs: number; parallel: number; stopper?: (stop: () => Promise<void>) => void },
): Promise<Running> {
  const started: { reports: ListenerReport[]; stop: () => Promise<void> }[] = [];
  let next = 0;
  let stopping: Promise<void> | undefined;
  const worker = async () => {
    while (next < groups.length && !stopping) {
      const g = groups[next++]!;
      const one = await startOne(runners.get(g.host)!, tools.get(g.host) ?? {}, g, opts.lifetimeMs);
      started.push(one);
      if (stopping) await one.stop(); // started while a stop was under way: end it too
    }
  };
  const workers = Promise.all(Array.from({ length: Math.max(1, Math.min(opts.parallel, groups.length)) }, worker));
  // Once, whoever asks first (the end of the run, or a signal): those running now, then any
  // whose start was under way.
  const stop = () => (stopping ??= Promise.all(started.map((s) => s.stop())).then(() => workers).then(() => undefined));
  opts.stopper?.(stop);
  await workers;
  return { reports: started.flatMap((s) => s.reports), stop };
}
