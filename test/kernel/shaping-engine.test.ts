// Shaping in plan and apply against the real kernel (issue 12): a qdisc changed by hand is drift
// that the plan names and the next apply repairs; a failure after the qdisc step rolls back to
// the previous qdiscs exactly (tc -json compared before and after); netem is refused in the plan
// on a kernel without sch_netem (this machine's), and where the kernel has it, 40ms of delay
// shows in the ping round trip.
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { applySession, closeRunners, planSession } from '../../src/engine/index.js';
import { probeQdiscs, type QdiscProbe } from '../../src/state/qdisc-probe.js';
import { LocalRunner, runnerFor, type Runner, type RunOptions, type RunResult } from '../../src/state/runner.js';
import { TC_SHOW_ARGV } from '../../src/state/tc.js';
import { FAULT_IP_ERROR, FAULT_IP_LINE } from '../support/faulty-runner.js';
import { FIXTURES, assertInLab, describeInLab, must, removeAll, tsnet, tsnetOk } from '../support/lab.js';
import { measureRtt } from '../support/traffic.js';

const SHAPED = join(FIXTURES, 'shaping.yaml');
const UPDATE = join(FIXTURES, 'shaping-update.yaml');
const NETEM = join(FIXTURES, 'shaping-netem.yaml');
const NONE = join(FIXTURES, 'shaping-none.yaml');
const NETNS = ['ksh-a', 'ksh-b', 'ksh-c'];
/** The host end of a's veth (hash of topology, sandbox and interface). */
let hostEnd = '';

/** Every qdisc of a namespace (null: the lab's own stack) as tc prints it, handles left out (a qdisc put back is a new one). */
async function qdiscs(ns: string | null): Promise<unknown[]> {
  const list = JSON.parse(await must(TC_SHOW_ARGV, ns ? { ns } : {})) as Record<string, unknown>[];
  return list.map(({ handle: _h, ...rest }) => rest);
}

/**
 * A runner whose ip and bridge lines fail once a tc batch has run: the fault comes after the
 * qdisc step, from ip itself, and the apply must undo the qdisc step too.
 */
class FailAfterTc implements Runner {
  tcRan = false;
  fired = false;
  constructor(private readonly inner: Runner) {
    assertInLab(['FailAfterTc', inner.describe]);
  }
  get host() {
    return this.inner.host;
  }
  get machine() {
    return this.inner.machine;
  }
  get describe() {
    return `${this.inner.describe} (failing after tc)`;
  }
  async run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    if (argv[0] === 'tc' && argv.includes('-batch') && !argv.includes('-force')) {
      const res = await this.inner.run(argv, opts);
      this.tcRan ||= res.exitCode === 0;
      return res;
    }
    if (this.tcRan && !this.fired && argv[0] === 'ip' && argv.includes('-batch') && !argv.includes('-force') && opts.input) {
      this.fired = true;
      return this.inner.run(argv, { ...opts, input: `${FAULT_IP_LINE}\n${opts.input}` });
    }
    return this.inner.run(argv, opts);
  }
  listNetns() {
    return this.inner.listNetns();
  }
  close() {
    return this.inner.close();
  }
}

describeInLab('shaping: drift, rollback, and netem', () => {
  let probe: QdiscProbe;

  beforeAll(async () => {
    await removeAll({ netns: NETNS });
    probe = await probeQdiscs(new LocalRunner('lab'));
    await tsnetOk('apply', '--auto-approve', SHAPED);
    hostEnd = (JSON.parse(await must(['ip', '-json', 'link', 'show', 'master', 'tsn-lan'])) as { ifname: string; ifalias?: string }[]).find((l) => l.ifalias?.endsWith('endpoint.a.eth0/peer'))!.ifname;
  });
  afterAll(async () => {
    await tsnet('destroy', '--auto-approve', NONE);
    await removeAll({ netns: NETNS });
  });

  it('a qdisc changed by hand is drift: the plan names it, apply repairs it', async () => {
    await must(['tc', 'qdisc', 'change', 'dev', 'eth0', 'root', 'tbf', 'rate', '5mbit', 'burst', '10000b', 'limit', '135000b'], { ns: 'ksh-a' });
    const plan = await tsnet('plan', '--detailed-exitcode', SHAPED);
    expect(plan.code).toBe(2);
    expect(plan.stdout).toMatch(/~ endpoint\.a\.eth0 +shaping: tbf rate 20mbit burst 10000b limit 135000b\n\s+rate 5mbit -> 20mbit\n/);
    // A qdisc added by hand on the other end of the link, which the file leaves unshaped.
    await must(['tc', 'qdisc', 'add', 'dev', hostEnd, 'root', 'tbf', 'rate', '1mbit', 'burst', '5000b', 'limit', '20000b']);
    expect(await tsnetOk('plan', SHAPED)).toContain('ingress qdisc tbf rate 1mbit burst 5000b limit 20000b -> none');
    await tsnetOk('apply', '--auto-approve', SHAPED);
    expect(await tsnetOk('plan', SHAPED)).toContain('No changes.');
    expect(((await qdiscs('ksh-a')).find((q) => (q as { dev?: string }).dev === 'eth0') as { options: { rate: number } }).options.rate).toBe(20e6 / 8);
    expect((await qdiscs(null)).some((q) => (q as { dev?: string }).dev === hostEnd && (q as { kind: string }).kind === 'tbf')).toBe(false);
  });

  it('a qdisc tsnet cannot put back exactly is a plan error, and stays untouched', async () => {
    await must(['tc', 'qdisc', 'replace', 'dev', 'eth0', 'root', 'htb', 'default', '1'], { ns: 'ksh-a' });
    const plan = await tsnet('plan', SHAPED);
    expect(plan.code).toBe(1);
    expect(plan.all).toContain('error: endpoint.a.eth0: ksh-a/eth0 holds qdisc htb, which tsnet cannot put back exactly if the apply fails: it does not touch it');
    expect(((await qdiscs('ksh-a')).find((q) => (q as { dev?: string }).dev === 'eth0') as { kind: string }).kind).toBe('htb');
    await must(['tc', 'qdisc', 'del', 'dev', 'eth0', 'root'], { ns: 'ksh-a' });
    await tsnetOk('apply', '--auto-approve', SHAPED);
  });

  it('a failure after the qdisc step restores the previous qdiscs exactly', async () => {
    const before = { a: await qdiscs('ksh-a'), host: await qdiscs(null) };
    const s = await planSession(UPDATE, 'apply', { runnerFactory: (h) => new FailAfterTc(runnerFor(h)) });
    try {
      expect(s.plan.errors).toEqual([]);
      expect(s.plan.steps.filter((st) => st.tool === 'tc').map((st) => st.description)).toEqual(['set qdisc tbf on ksh-a/eth0', `set qdisc tbf on ${hostEnd} (host)`]);
      const out = await applySession(s, { journal: false });
      expect(out.result.failure?.error).toContain(FAULT_IP_ERROR);
      expect(out.result.completed.some((st) => st.tool === 'tc'), 'the qdisc step ran before the fault').toBe(true);
      expect(out.rollbackDiff).toEqual([]);
    } finally {
      await closeRunners(s.runners);
    }
    expect(await qdiscs('ksh-a')).toEqual(before.a);
    expect(await qdiscs(null)).toEqual(before.host);
    expect(await tsnetOk('plan', SHAPED)).toContain('No changes.');
  });

  it('netem on a kernel without sch_netem is a plan error naming the host and the module', async (ctx) => {
    if (probe.ok && probe.has.netem) ctx.skip('this kernel has sch_netem: the plan error cannot happen here');
    const plan = await tsnet('apply', '--auto-approve', NETEM);
    expect(plan.code).toBe(1);
    expect(plan.all).toContain('error: endpoint.a.eth0: the kernel of host "local" has no sch_netem (the netem qdisc)');
    expect(((await qdiscs('ksh-a')).find((q) => (q as { dev?: string }).dev === 'eth0') as { kind: string }).kind).toBe('tbf');
  });

  it('netem delay 40ms through the CLI: the ping round trip is at least 40 ms', async (ctx) => {
    if (!probe.ok || !probe.has.netem) ctx.skip('this kernel has no sch_netem');
    await tsnetOk('apply', '--auto-approve', NETEM);
    expect((await measureRtt('ksh-a', '198.18.61.20')).minMs).toBeGreaterThanOrEqual(40);
  });
});
