// Shaping's building blocks against the real kernel (issue 12): the tbf argv of src/state/tc.ts
// shapes real TCP traffic between two namespaces joined by a veth made by hand, `tc -json` reads
// back as the desired qdisc, a change by hand is named, the undo argv restores, and the qdisc
// probe agrees with what tc really does. netem tests run where the kernel has sch_netem and are
// skipped, saying so, where it does not (this machine's kernel).
import { afterAll, beforeAll, expect, it } from 'vitest';
import { desiredQdisc, parseShaping, type Qdisc, type ShapingFile } from '../../src/model/shaping.js';
import { probeQdiscs, type QdiscProbe } from '../../src/state/qdisc-probe.js';
import { LocalRunner } from '../../src/state/runner.js';
import { checkLinkQdisc, deviceQdiscs, diffQdisc, parseTcQdiscs, TC_SHOW_ARGV, tcDeleteArgv, tcReplaceArgv, tcRestoreArgv, tcShowDevArgv, type DeviceQdiscs } from '../../src/state/tc.js';
import { link } from '../support/kernel.js';
import { describeInLab, must, netnsNames, removeAll, run } from '../support/lab.js';
import { mbit, measureRtt, measureThroughput } from '../support/traffic.js';

const A = 'tcshape-a';
const B = 'tcshape-b';
const A_ADDR = '198.18.60.1';
const B_ADDR = '198.18.60.2';
const RATE = 20e6;

/** The qdisc tsnet asks for, from `shaping:` as written. */
function want(raw: ShapingFile): Qdisc {
  const parsed = parseShaping(raw, (code, message) => {
    throw new Error(`${code}: ${message}`);
  });
  const q = desiredQdisc(parsed.egress);
  if (!q) throw new Error('shapes nothing');
  return q;
}

/** What `tc -r -json qdisc show dev DEV` says, parsed. */
async function observed(ns: string, dev: string): Promise<DeviceQdiscs> {
  const parsed = parseTcQdiscs(await must(tcShowDevArgv(dev), { ns }), { dev });
  if (!parsed.ok) throw new Error(parsed.error);
  return deviceQdiscs(parsed.devices, dev);
}

const diffTexts = async (desired: Qdisc | undefined, ns: string, dev: string) => diffQdisc(desired, await observed(ns, dev)).map((c) => c.text);

describeInLab('tc: tbf with real traffic, tc -json read back, the qdisc probe', () => {
  let probe: QdiscProbe;

  beforeAll(async () => {
    await removeAll({ netns: [A, B] });
    await must(['ip', 'netns', 'add', A]);
    await must(['ip', 'netns', 'add', B]);
    await must(['ip', 'link', 'add', 'a0', 'type', 'veth', 'peer', 'name', 'b0', 'netns', B], { ns: A });
    await must(['ip', 'addr', 'add', `${A_ADDR}/24`, 'dev', 'a0'], { ns: A });
    await must(['ip', 'addr', 'add', `${B_ADDR}/24`, 'dev', 'b0'], { ns: B });
    for (const [ns, dev] of [[A, 'a0'], [B, 'b0'], [A, 'lo'], [B, 'lo']] as const) await must(['ip', 'link', 'set', dev, 'up'], { ns });
    probe = await probeQdiscs(new LocalRunner('lab'));
  });

  afterAll(async () => {
    await removeAll({ netns: [A, B] });
  });

  it('tbf 20mbit on the sender\'s end: within 15% of the rate, well above it once deleted', async () => {
    const desired = want({ rate: '20mbit' });
    await must(tcReplaceArgv('a0', desired), { ns: A });
    const shaped = await measureThroughput({ from: A, to: B, address: B_ADDR });
    expect(Math.abs(shaped.bitsPerSecond - RATE), `shaped: ${mbit(shaped.bitsPerSecond)}`).toBeLessThanOrEqual(0.15 * RATE);
    expect(await diffTexts(desired, A, 'a0')).toEqual([]);
    expect(checkLinkQdisc(String((await link(A, 'a0')).qdisc), 'tbf')).toEqual({ state: 'tsnet-kind', needsTc: true });

    await must(tcDeleteArgv('a0'), { ns: A });
    expect((await observed(A, 'a0')).root).toMatchObject({ type: 'other', kind: 'noqueue' });
    expect(checkLinkQdisc(String((await link(A, 'a0')).qdisc), undefined)).toEqual({ state: 'default', needsTc: false });
    const free = await measureThroughput({ from: A, to: B, address: B_ADDR });
    expect(free.bitsPerSecond, `unshaped: ${mbit(free.bitsPerSecond)}`).toBeGreaterThan(3 * RATE);
  });

  it('ingress: tbf on the peer\'s end shapes what the sandbox receives, and only that', async () => {
    const desired = want({ rate: '20mbit' });
    await must(tcReplaceArgv('b0', desired), { ns: B });
    const received = await measureThroughput({ from: B, to: A, address: A_ADDR });
    expect(Math.abs(received.bitsPerSecond - RATE), `B -> A shaped: ${mbit(received.bitsPerSecond)}`).toBeLessThanOrEqual(0.15 * RATE);
    const sent = await measureThroughput({ from: A, to: B, address: B_ADDR });
    expect(sent.bitsPerSecond, `A -> B: ${mbit(sent.bitsPerSecond)}`).toBeGreaterThan(3 * RATE);
    expect(await diffTexts(desired, B, 'b0')).toEqual([]);
    await must(tcDeleteArgv('b0'), { ns: B });
    const free = await measureThroughput({ from: B, to: A, address: A_ADDR });
    expect(free.bitsPerSecond, `B -> A unshaped: ${mbit(free.bitsPerSecond)}`).toBeGreaterThan(3 * RATE);
  });

  it('what tsnet asks for reads back without a difference, from 64kbit to 40gbit, with -r and without', async () => {
    const shapings: ShapingFile[] = [
      { rate: '64kbit' },
      { rate: '1mbit' },
      { rate: '1234567bit' },
      { rate: '20mbit', burst: '32kb' },
      { rate: '100mbit', limit: '1mb' },
      { rate: '1gbit' },
      { rate: '2.5gbit', burst: '3mb' },
      { rate: '10gbit' },
      { rate: '40gbit' },
      { rate: '1MBps', burst: '1537b', limit: '7777b' },
    ];
    for (const raw of shapings) {
      const desired = want(raw);
      await must(tcReplaceArgv('a0', desired), { ns: A });
      expect(await diffTexts(desired, A, 'a0'), JSON.stringify(raw)).toEqual([]);
      const plain = parseTcQdiscs(await must(['tc', '-json', 'qdisc', 'show', 'dev', 'a0'], { ns: A }), { dev: 'a0' });
      expect(plain.ok && diffQdisc(desired, deviceQdiscs(plain.devices, 'a0')).map((c) => c.text), `${JSON.stringify(raw)} without -r`).toEqual([]);
    }
    await must(tcDeleteArgv('a0'), { ns: A });
  });

  it('a rate changed by hand (tc qdisc change) is named; the undo argv puts back what was there', async () => {
    const desired = want({ rate: '20mbit' });
    await must(tcReplaceArgv('a0', desired), { ns: A });
    const before = await observed(A, 'a0');
    await must(['tc', 'qdisc', 'change', 'dev', 'a0', 'root', 'tbf', 'rate', '5mbit', 'burst', '10000b', 'limit', '135000b'], { ns: A });
    expect(await diffTexts(desired, A, 'a0')).toEqual(['rate 5mbit -> 20mbit']);
    // The whole namespace's listing says the same as the one-device read.
    const all = parseTcQdiscs(await must(TC_SHOW_ARGV, { ns: A }));
    expect(all.ok && diffQdisc(desired, deviceQdiscs(all.devices, 'a0')).map((c) => c.text)).toEqual(['rate 5mbit -> 20mbit']);

    await must(tcRestoreArgv(before)!, { ns: A });
    expect(await diffTexts(desired, A, 'a0')).toEqual([]);
    const empty = await observed(B, 'b0');
    await must(tcReplaceArgv('b0', desired), { ns: B });
    await must(tcRestoreArgv(empty)!, { ns: B });
    expect((await observed(B, 'b0')).root).toMatchObject({ type: 'other', kind: 'noqueue' });
    await must(tcDeleteArgv('a0'), { ns: A });
  });

  it('a qdisc added by hand is seen from ip -json link alone, and named by the comparison', async () => {
    await must(['tc', 'qdisc', 'replace', 'dev', 'a0', 'root', 'pfifo_fast'], { ns: A });
    const verdict = checkLinkQdisc(String((await link(A, 'a0')).qdisc), undefined);
    expect(verdict).toMatchObject({ state: 'foreign', needsTc: true, change: { text: 'qdisc pfifo_fast -> none' } });
    expect(await diffTexts(undefined, A, 'a0')).toEqual(['qdisc pfifo_fast -> none']);
    expect(tcRestoreArgv(await observed(A, 'a0'))).toBeUndefined();
    await must(tcDeleteArgv('a0'), { ns: A });
  });

  it('the probe says what tc really does in a throwaway namespace, changes nothing, and is cheap', async () => {
    const lab = async () => ({ qdiscs: await must(TC_SHOW_ARGV), netns: await netnsNames() });
    const before = await lab();
    const again = await probeQdiscs(new LocalRunner('lab'));
    expect(await lab()).toEqual(before);
    if (!probe.ok || !again.ok) throw new Error(`probe failed: ${JSON.stringify([probe, again])}`);
    const really = async (args: string[]) => (await run(['unshare', '--net', 'tc', 'qdisc', 'add', 'dev', 'lo', 'root', ...args])).code === 0;
    expect(again.has).toEqual({ tbf: await really(['tbf', 'rate', '1mbit', 'burst', '10kb', 'limit', '20kb']), netem: await really(['netem', 'delay', '1ms']) });
    expect(again.has.tbf).toBe(true);
    expect(again.ms, 'one process in a new namespace').toBeLessThan(1000);
    console.log(`qdisc probe: ${JSON.stringify(again.has)} in ${again.ms} ms`);
  });

  it('netem delay 40ms: the ping round trip is at least 40 ms', async (ctx) => {
    if (!probe.ok) throw new Error(probe.error);
    if (!probe.has.netem) ctx.skip('this kernel has no sch_netem');
    const desired = want({ delay: '40ms' });
    await must(tcReplaceArgv('a0', desired), { ns: A });
    try {
      const rtt = await measureRtt(A, B_ADDR);
      expect(rtt.minMs).toBeGreaterThanOrEqual(40);
      expect(await diffTexts(desired, A, 'a0')).toEqual([]);
    } finally {
      await must(tcDeleteArgv('a0'), { ns: A });
    }
    expect((await measureRtt(A, B_ADDR)).minMs).toBeLessThan(40);
  });

  it('netem with every key and its own rate reads back as the desired qdisc; a change by hand is named', async (ctx) => {
    if (!probe.ok) throw new Error(probe.error);
    if (!probe.has.netem) ctx.skip('this kernel has no sch_netem');
    const desired = want({ rate: '10mbit', delay: '40ms', jitter: '5ms', loss: '0.5%', duplicate: '1%', corrupt: '0.1%', reorder: '25%' });
    await must(tcReplaceArgv('a0', desired), { ns: A });
    try {
      expect(await diffTexts(desired, A, 'a0')).toEqual([]);
      await must(['tc', 'qdisc', 'change', 'dev', 'a0', 'root', 'netem', 'delay', '50ms', 'loss', '1%'], { ns: A });
      expect(await diffTexts(want({ delay: '40ms', loss: '1%' }), A, 'a0')).toEqual(['delay 50ms -> 40ms']);
    } finally {
      await must(tcDeleteArgv('a0'), { ns: A });
    }
  });
});
