// Runs the probes of a plan inside the sandboxes, on their hosts: listeners first (port checks),
// then the probes, at most `parallel` at a time, each bounded by its timeout, none started after
// the total deadline; the listeners are stopped whatever happens. Every probe is an argv run
// through the host's runner in the `from` sandbox's namespace: ping, or the fixed client of
// scripts.ts with the address and port as arguments.
import type { Runner } from '../state/runner.js';
import { phase } from '../timing.js';
import { within } from './within.js';
import { clientOutcome, passes, pingOutcome, type ListenerState, type Outcome } from './classify.js';
import { listenerFor, listenerGroups, startListeners, type ListenerReport } from './listeners.js';
import type { Probe, ProbePlan } from './probes.js';
import { detectTools, missingTool, programArgv, type HostTools } from './tools.js';

export interface RunOptions {
  /** Per probe: how long to wait for an answer. */
  timeoutMs: number;
  /** For the whole run: no probe starts after it. */
  deadlineMs: number;
  /** Probes at once. */
  parallel: number;
  /** How each host's probe programs are found (tests force python3 with it). */
  toolsFor?: (runner: Runner) => Promise<HostTools>;
}

export interface ProbeResult {
  probe: Probe;
  icmp?: Outcome;
  port?: Outcome;
  listener?: ListenerState;
  ok: boolean;
  /** How long until the outcome was known. */
  ms: number;
}

export interface CheckRun {
  results: ProbeResult[];
  listeners: ListenerReport[];
  seconds: number;
}

/** Runs argv and times it; a runner that throws (an ssh host lost) or hangs past `limitMs` gives an error outcome. */
async function timed(runner: Runner, argv: readonly string[], ns: string | null, limitMs: number, read: (res: { stdout: string; stderr: string; exitCode: number }, ms: number) => Outcome): Promise<Outcome> {
  const t0 = performance.now();
  try {
    const res = await within(runner.run(argv, { ns }), limitMs);
    if (!res) return { kind: 'error', detail: `the probe did not end within ${limitMs} ms`, ms: Math.round(performance.now() - t0) };
    return read(res, performance.now() - t0);
  } catch (err) {
    return { kind: 'error', detail: (err as Error).message, ms: Math.round(performance.now() - t0) };
  }
}

/** The slack a probe process gets beyond its own timeout (process start, an ssh round trip). */
const GRACE_MS = 10_000;

function icmpProbe(p: Probe, runner: Runner, tools: HostTools, timeoutMs: number): Promise<Outcome> {
  const missing = missingTool(runner, tools, 'ping');
  if (missing) return Promise.resolve({ kind: 'error', detail: missing, ms: 0 });
  const argv = [tools.ping!, '-n', `-${p.family}`, '-c1', '-W', String(timeoutMs / 1000), p.address];
  return timed(runner, argv, p.fromAt.ns, timeoutMs + GRACE_MS, pingOutcome);
}

function portProbe(p: Probe, runner: Runner, tools: HostTools, timeoutMs: number): Promise<Outcome> {
  const missing = missingTool(runner, tools, 'client');
  if (missing) return Promise.resolve({ kind: 'error', detail: missing, ms: 0 });
  const argv = programArgv(tools.client!, 'client', [p.port!.proto, p.address, String(p.port!.number), String(timeoutMs)]);
  return timed(runner, argv, p.fromAt.ns, timeoutMs + GRACE_MS, clientOutcome);
}

async function runProbe(p: Probe, runner: Runner, tools: HostTools, listener: ListenerState | undefined, timeoutMs: number): Promise<ProbeResult> {
  const needIcmp = !p.port || p.expect === 'blocked';
  const [icmp, port] = await Promise.all([needIcmp ? icmpProbe(p, runner, tools, timeoutMs) : undefined, p.port ? portProbe(p, runner, tools, timeoutMs) : undefined]);
  return {
    probe: p,
    ...(icmp ? { icmp } : {}),
    ...(port ? { port } : {}),
    ...(listener ? { listener } : {}),
    ok: passes(p.expect, icmp, port),
    ms: Math.max(icmp?.ms ?? 0, port?.ms ?? 0),
  };
}

/** A probe the deadline left unstarted: it fails, saying so. */
function notRun(p: Probe, deadlineMs: number): ProbeResult {
  const o: Outcome = { kind: 'not-run', detail: `not run: the deadline (${deadlineMs / 1000}s) passed first`, ms: 0 };
  return { probe: p, ...(!p.port || p.expect === 'blocked' ? { icmp: o } : {}), ...(p.port ? { port: o } : {}), ok: false, ms: 0 };
}

/** The programs of every host that starts probes or holds a listener, asked once per host. */
async function toolsOfHosts(plan: ProbePlan, runners: ReadonlyMap<string, Runner>, toolsFor: (r: Runner) => Promise<HostTools>): Promise<Map<string, HostTools>> {
  const hosts = new Set(plan.probes.flatMap((p) => [p.fromAt.host, ...(p.port && p.listenAt ? [p.listenAt.host] : [])]));
  const tools = new Map<string, HostTools>();
  await Promise.all(
    [...hosts].map(async (h) => {
      try {
        tools.set(h, await toolsFor(runners.get(h)!));
      } catch (err) {
        tools.set(h, { error: (err as Error).message }); // each probe on the host says so
      }
    }),
  );
  return tools;
}

/**
 * SIGINT, SIGTERM or SIGHUP while listeners run: stop them first, then end as the signal would.
 * (Without it they end too, but only as side effects: execa kills this machine's children, and
 * an ssh host's end with their session; this does not rely on either.) Returns the undo.
 */
function stopOnSignals(stop: () => Promise<void>): () => void {
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  const handler = (sig: NodeJS.Signals) => {
    dispose();
    void stop().finally(() => process.kill(process.pid, sig));
  };
  const dispose = () => signals.forEach((sig) => process.off(sig, handler));
  signals.forEach((sig) => process.on(sig, handler));
  return dispose;
}

export async function runProbes(plan: ProbePlan, runners: ReadonlyMap<string, Runner>, opts: RunOptions): Promise<CheckRun> {
  const started = Date.now();
  const deadline = started + opts.deadlineMs;
  const tools = await toolsOfHosts(plan, runners, opts.toolsFor ?? detectTools);
  phase('check: tools');
  // A listener outlives the run by a margin at most, even if tsnet were killed before stopping it.
  // The signal handler is in place before the first listener starts (see startListeners).
  let dispose = () => {};
  const running = await startListeners(listenerGroups(plan.probes), runners, tools, {
    lifetimeMs: opts.deadlineMs + 30_000,
    parallel: opts.parallel,
    stopper: (stop) => (dispose = stopOnSignals(stop)),
  });
  phase('check: listeners');
  try {
    const results = new Array<ProbeResult>(plan.probes.length);
    let next = 0;
    const worker = async () => {
      while (next < plan.probes.length) {
        const i = next++;
        const p = plan.probes[i]!;
        results[i] =
          Date.now() > deadline
            ? notRun(p, opts.deadlineMs)
            : await runProbe(p, runners.get(p.fromAt.host)!, tools.get(p.fromAt.host) ?? {}, listenerFor(running.reports, p), opts.timeoutMs);
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.parallel, plan.probes.length)) }, worker));
    phase('check: probes');
    return { results, listeners: running.reports, seconds: (Date.now() - started) / 1000 };
  } finally {
    dispose();
    await running.stop();
    phase('check: listeners stopped');
  }
}
