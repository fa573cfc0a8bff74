// Shaping through the CLI with real traffic (issue 12): `tsnet apply` of a file with
// `rate: 20mbit` limits what the sandbox sends to within 15% of the rate; applying the file
// without `shaping` removes the qdisc (the kernel default again) and the rate is well above;
// `ingress` limits what the sandbox receives, on the host end of its veth.
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { FIXTURES, describeInLab, must, removeAll, tsnet, tsnetOk } from '../support/lab.js';
import { mbit, measureThroughput } from '../support/traffic.js';

const SHAPED = join(FIXTURES, 'shaping.yaml');
const INGRESS = join(FIXTURES, 'shaping-ingress.yaml');
const NONE = join(FIXTURES, 'shaping-none.yaml');
const NETNS = ['ksh-a', 'ksh-b', 'ksh-c'];
const A = '198.18.61.10';
const B = '198.18.61.20';
const RATE = 20e6;
const SECONDS = 2;

/** The root qdisc kind of a sandbox's eth0 as `ip -json link` shows it. */
const qdiscOf = async (ns: string | null, dev: string) => (JSON.parse(await must(['ip', '-json', 'link', 'show', 'dev', dev], ns ? { ns } : {})) as { qdisc: string }[])[0]!.qdisc;

describeInLab('shaping through the CLI, measured with real traffic', () => {
  beforeAll(async () => {
    await removeAll({ netns: NETNS });
  });
  afterAll(async () => {
    await tsnet('destroy', '--auto-approve', NONE);
    await removeAll({ netns: NETNS });
  });

  it('rate 20mbit: a sends within 15% of it; without shaping, well above it', async () => {
    // apply prints its plan first, and checks afterwards that the kernel matches the file.
    expect(await tsnetOk('apply', '--auto-approve', SHAPED)).toMatch(/\+ endpoint\.a\.eth0 .*\n\s+qdisc none -> tbf rate 20mbit burst 10000b limit 135000b/);
    const shaped = await measureThroughput({ from: 'ksh-a', to: 'ksh-b', address: B, seconds: SECONDS });
    expect(Math.abs(shaped.bitsPerSecond - RATE) / RATE, `measured ${mbit(shaped.bitsPerSecond)} through rate 20mbit`).toBeLessThan(0.15);

    expect(await tsnetOk('apply', '--auto-approve', NONE)).toMatch(/~ endpoint\.a\.eth0 .*\n\s+qdisc tbf rate 20mbit burst 10000b limit 135000b -> none/);
    expect(await qdiscOf('ksh-a', 'eth0')).toBe('noqueue');
    const free = await measureThroughput({ from: 'ksh-a', to: 'ksh-b', address: B, seconds: SECONDS });
    expect(free.bitsPerSecond, `measured ${mbit(free.bitsPerSecond)} without shaping`).toBeGreaterThan(3 * RATE);
  });

  it('ingress rate 20mbit: a receives within 15% of it (the host end of its veth), and sends freely', async () => {
    expect(await tsnetOk('apply', '--auto-approve', INGRESS)).toMatch(/~ endpoint\.a\.eth0 .*\n\s+ingress qdisc none -> tbf rate 20mbit/);
    expect(await qdiscOf('ksh-a', 'eth0')).toBe('noqueue');
    const received = await measureThroughput({ from: 'ksh-b', to: 'ksh-a', address: A, seconds: SECONDS });
    expect(Math.abs(received.bitsPerSecond - RATE) / RATE, `measured ${mbit(received.bitsPerSecond)} into a through ingress rate 20mbit`).toBeLessThan(0.15);
    const sent = await measureThroughput({ from: 'ksh-a', to: 'ksh-b', address: B, seconds: SECONDS });
    expect(sent.bitsPerSecond, `measured ${mbit(sent.bitsPerSecond)} out of a`).toBeGreaterThan(3 * RATE);
  });
});
