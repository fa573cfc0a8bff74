// Whether a host's kernel has the qdiscs shaping needs (sch_tbf, sch_netem), found before a plan
// is made rather than by an apply that fails and rolls back.
//
// The probe adds each qdisc to `lo` of a throwaway network namespace (`unshare --net`): nothing
// of the host changes, the namespace vanishes with the process, and the kernel autoloads the
// module as it would for the real apply. Reading /sys/module, modules.builtin and modinfo
// instead needs three sources that disagree across distributions (a built-in module without
// parameters has no /sys/module entry; containers often lack /lib/modules, as this machine
// does) and still cannot tell a blacklisted module. One process, about 15 ms (docs/shaping.md).
import type { QdiscKind } from '../model/shaping.js';
import type { Runner } from './runner.js';

export const QDISC_MODULES: Readonly<Record<QdiscKind, string>> = { tbf: 'sch_tbf', netem: 'sch_netem' };

/** What needs each qdisc, for messages. */
const NEEDED_BY: Readonly<Record<QdiscKind, string>> = {
  tbf: 'a rate without delay or loss needs it',
  netem: 'delay, jitter, loss, duplicate, corrupt and reorder need it',
};

/** One tc batch in a new network namespace; -force goes on after a failed line, so one process answers for both. */
export const PROBE_ARGV: readonly string[] = ['unshare', '--net', 'tc', '-force', '-batch', '-'];
const PROBE_LINES: readonly [QdiscKind, string][] = [
  ['tbf', 'qdisc replace dev lo root tbf rate 1mbit burst 10kb limit 20kb'],
  ['netem', 'qdisc replace dev lo root netem delay 1ms'],
];
export const PROBE_INPUT = `${PROBE_LINES.map(([, line]) => line).join('\n')}\n`;

export type QdiscProbe =
  | { ok: true; host: string; has: Record<QdiscKind, boolean>; ms: number }
  | { ok: false; host: string; error: string; ms: number };

/** The kernel's words for a qdisc kind it does not know (with extack; ENOENT without). */
const UNKNOWN_KIND = /qdisc kind is unknown|No such file or directory/i;

/**
 * Reads `tc -force -batch` stderr: each failed line's messages, then "Command failed -:N".
 * Returns the failed line numbers with their messages, or undefined when tc did not say.
 */
function failedLines(stderr: string): Map<number, string> {
  const out = new Map<number, string>();
  let pending: string[] = [];
  for (const line of stderr.split('\n')) {
    const m = /^Command failed -:(\d+)$/.exec(line.trim());
    if (m) {
      out.set(Number(m[1]), pending.join(' ').trim());
      pending = [];
    } else if (line.trim()) pending.push(line.trim());
  }
  return out;
}

/** Interprets the probe's result (separate from running it, so unit tests can feed it text). */
export function readProbe(host: string, result: { exitCode: number; stderr: string }, ms: number): QdiscProbe {
  const failed = failedLines(result.stderr);
  if (result.exitCode !== 0 && failed.size === 0)
    return { ok: false, host, ms, error: `cannot probe the qdiscs of host "${host}" (${PROBE_ARGV.slice(0, 3).join(' ')}): ${result.stderr.trim() || `exit code ${result.exitCode}`}` };
  const has = { tbf: true, netem: true };
  for (const [n, message] of failed) {
    const kind = PROBE_LINES[n - 1]?.[0];
    if (!kind) return { ok: false, host, ms, error: `unexpected tc output probing host "${host}": ${result.stderr.trim()}` };
    if (!UNKNOWN_KIND.test(message)) return { ok: false, host, ms, error: `cannot probe the ${kind} qdisc of host "${host}": ${message}` };
    has[kind] = false;
  }
  return { ok: true, host, has, ms };
}

async function runProbe(runner: Runner): Promise<{ result: { exitCode: number; stderr: string }; ms: number }> {
  const start = performance.now();
  const result = await runner.run(PROBE_ARGV, { input: PROBE_INPUT });
  return { result, ms: Math.round((performance.now() - start) * 10) / 10 };
}

/** Runs the probe on a host (local, netns or ssh: whatever the runner reaches). */
export async function probeQdiscs(runner: Runner): Promise<QdiscProbe> {
  const { result, ms } = await runProbe(runner);
  return readProbe(runner.host, result, ms);
}

/** One probe per machine (netns hosts share this machine's kernel), however many hosts ask. */
export function probeOncePerMachine(): (runner: Runner) => Promise<QdiscProbe> {
  const seen = new Map<string, ReturnType<typeof runProbe>>();
  return async (runner) => {
    let run = seen.get(runner.machine);
    if (!run) seen.set(runner.machine, (run = runProbe(runner)));
    const { result, ms } = await run;
    return readProbe(runner.host, result, ms);
  };
}

/** The plan error for a qdisc a host's kernel lacks. */
export const missingQdiscMessage = (host: string, kind: QdiscKind): string =>
  `the kernel of host "${host}" has no ${QDISC_MODULES[kind]} (the ${kind} qdisc): ${NEEDED_BY[kind]}`;

export const missingQdiscHint = (kind: QdiscKind): string =>
  `load it with "modprobe ${QDISC_MODULES[kind]}", or install the kernel's extra modules (e.g. Debian's linux-modules-extra, RHEL's kernel-modules-extra)`;

/** Plan errors for the kinds a host needs and its kernel lacks (none when the probe itself failed: that is its own error). */
export function probeProblems(probe: QdiscProbe, needed: Iterable<QdiscKind>): { message: string; hint: string }[] {
  if (!probe.ok) return [];
  return [...new Set(needed)].filter((k) => !probe.has[k]).map((k) => ({ message: missingQdiscMessage(probe.host, k), hint: missingQdiscHint(k) }));
}

/** Per host, each qdisc kind the topology asks for there, with the first resource that asks. */
export type QdiscNeeds = ReadonlyMap<string, ReadonlyMap<QdiscKind, string>>;

/**
 * Plan errors for qdisc kinds a host's kernel lacks: the probe runs only on hosts that need a
 * qdisc, once per machine. A probe that fails is an error naming the host, never a guess.
 */
export async function qdiscPlanErrors(needs: QdiscNeeds, runners: ReadonlyMap<string, Runner>): Promise<{ host: string; address: string; message: string }[]> {
  const probe = probeOncePerMachine();
  const errors: { host: string; address: string; message: string }[] = [];
  for (const [host, kinds] of needs) {
    const runner = runners.get(host);
    if (!runner || !kinds.size) continue;
    const result = await probe(runner);
    const first = [...kinds.values()][0]!;
    if (!result.ok) {
      errors.push({ host, address: first, message: result.error });
      continue;
    }
    for (const [kind, address] of kinds) if (!result.has[kind]) errors.push({ host, address, message: `${missingQdiscMessage(host, kind)}; ${missingQdiscHint(kind)}` });
  }
  return errors;
}
