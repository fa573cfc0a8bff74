// Drift: engine-three.yaml is applied once, then each test changes the kernel by hand with ip
// or sysctl, as an operator might. `tsnet plan` must name the drift (the resource and the
// reason), the next `tsnet apply` must repair it, and a plan after that says "No changes".
// Drifts that touch disjoint resources are made together in one round (one plan, one apply,
// one plan instead of three runs each): the plan's change lines must be exactly the union of
// theirs, so a drift not named, or a change no drift explains, still fails the round.
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { quietDump, settledDump, type KernelDump } from '../support/dump.js';
import { FIXTURES, describeInLab, must, pings, planChanges, removeAll, run, tsnet, tsnetOk } from '../support/lab.js';

const FILE = join(FIXTURES, 'engine-three.yaml');
const NETNS = ['kt3-a', 'kt3-b', 'kt3-c'];

interface Link {
  ifname: string;
  mtu: number;
  flags: string[];
  master?: string;
  ifalias?: string;
  addr_info?: { local: string; prefixlen: number }[];
}

/** `ip -d -json link show` with each link's addresses from `addr show` (which omits ifalias). */
async function linksIn(ns: string | null): Promise<Link[]> {
  const out = await must(['ip', '-d', '-json', '-batch', '-'], { ...(ns ? { ns } : {}), input: 'link show\naddr show\n' });
  const [links, withAddrs] = out.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as Link[]) as [Link[], Link[]];
  return links.map((l) => ({ ...l, addr_info: withAddrs.find((a) => a.ifname === l.ifname)?.addr_info ?? [] }));
}

async function eth0(ns: string): Promise<Link> {
  const l = (await linksIn(ns)).find((x) => x.ifname === 'eth0');
  if (!l) throw new Error(`no eth0 in ${ns}`);
  return l;
}

const addrs = (l: Link) => (l.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`);

/** The host end of an endpoint, found by its ownership mark. */
async function hostEnd(endpoint: string): Promise<Link> {
  const l = (await linksIn(null)).find((x) => x.ifalias === `tsnet:kt3:${endpoint}/peer`);
  if (!l) throw new Error(`no host end of ${endpoint}`);
  return l;
}

const routes = async (ns: string): Promise<string[]> =>
  (JSON.parse(await must(['ip', '-json', 'route', 'show'], { ns })) as { dst: string; gateway?: string; protocol?: string }[]).map(
    (r) => `${r.dst}${r.gateway ? ` via ${r.gateway}` : ''}${r.protocol === '116' ? ' (tsnet)' : ''}`,
  );

const sysctl = async (ns: string, key: string) => (await must(['sysctl', '-n', key], { ns })).trim();

interface Drift {
  name: string;
  make: () => Promise<void>;
  /** Change lines the plan must hold, e.g. "~ endpoint.a.eth0". */
  changes: string[];
  /** Reasons the plan must print. */
  reasons: string[];
  /** Checks the kernel is repaired (after the apply). */
  repaired: () => Promise<void>;
}

const DRIFTS: Drift[] = [
  {
    name: 'address removed',
    make: () => must(['ip', 'addr', 'del', '198.18.80.10/24', 'dev', 'eth0'], { ns: 'kt3-a' }).then(() => {}),
    // The kernel drops the routes that needed the address: the plan adds them back too.
    changes: ['~ endpoint.a.eth0', '+ route.a.default'],
    reasons: ['address 198.18.80.10/24 missing'],
    repaired: async () => {
      expect(addrs(await eth0('kt3-a'))).toContain('198.18.80.10/24');
      expect(await routes('kt3-a')).toContain('default via 198.18.80.1 (tsnet)');
    },
  },
  {
    name: 'link down',
    make: () => must(['ip', 'link', 'set', 'eth0', 'down'], { ns: 'kt3-b' }).then(() => {}),
    // Down, the link loses its IPv6 address and both default routes: the plan restores all.
    changes: ['~ endpoint.b.eth0', '+ route.b.default', '+ route.b.default-ipv6'],
    reasons: ['link is down', 'address 2001:db8:80::2/64 missing'],
    repaired: async () => {
      expect((await eth0('kt3-b')).flags).toContain('UP');
      expect(await routes('kt3-b')).toContain('default via 198.18.80.1 (tsnet)');
    },
  },
  {
    name: 'mtu changed',
    make: () => must(['ip', 'link', 'set', 'eth0', 'mtu', '1400'], { ns: 'kt3-c' }).then(() => {}),
    changes: ['~ endpoint.c.eth0'],
    reasons: ['mtu 1400 -> 1500'],
    repaired: async () => {
      expect((await eth0('kt3-c')).mtu).toBe(1500);
    },
  },
  {
    name: 'veth deleted (host end)',
    make: async () => {
      await must(['ip', 'link', 'del', (await hostEnd('endpoint.b.eth0')).ifname]);
    },
    changes: ['+ endpoint.b.eth0', '+ route.b.default', '+ route.b.default-ipv6'],
    reasons: [],
    repaired: async () => {
      expect(addrs(await eth0('kt3-b'))).toContain('198.18.80.2/24');
      expect((await hostEnd('endpoint.b.eth0')).master).toBe('tsn-net');
    },
  },
  {
    name: 'whole namespace deleted',
    make: () => must(['ip', 'netns', 'del', 'kt3-a']).then(() => {}),
    changes: ['+ sandbox.a', '+ endpoint.a.eth0', '+ route.a.default', '+ route.a.default-ipv6'],
    reasons: [],
    repaired: async () => {
      expect(addrs(await eth0('kt3-a'))).toEqual(expect.arrayContaining(['198.18.80.10/24', '2001:db8:80::10/64']));
      expect(await pings('kt3-a', '198.18.80.3')).toBe(true);
    },
  },
  {
    name: 'route removed',
    make: () => must(['ip', 'route', 'del', '198.18.81.0/24'], { ns: 'kt3-c' }).then(() => {}),
    changes: ['+ route.c.198.18.81.0/24'],
    reasons: [],
    repaired: async () => {
      expect(await routes('kt3-c')).toContain('198.18.81.0/24 via 198.18.80.10 (tsnet)');
    },
  },
  {
    name: 'sysctl changed',
    make: () => must(['sysctl', '-q', '-w', 'net.ipv4.ip_forward=0'], { ns: 'kt3-c' }).then(() => {}),
    changes: ['~ sandbox.c'],
    reasons: ['sysctl net.ipv4.ip_forward 0 -> 1'],
    repaired: async () => {
      expect(await sysctl('kt3-c', 'net.ipv4.ip_forward')).toBe('1');
    },
  },
  {
    name: 'extra address added',
    make: () => must(['ip', 'addr', 'add', '198.18.80.99/24', 'dev', 'eth0'], { ns: 'kt3-a' }).then(() => {}),
    changes: ['~ endpoint.a.eth0'],
    reasons: ['address 198.18.80.99/24 is not in the topology'],
    repaired: async () => {
      expect(addrs(await eth0('kt3-a'))).not.toContain('198.18.80.99/24');
    },
  },
  {
    name: 'host end taken off the bridge',
    make: async () => {
      await must(['ip', 'link', 'set', (await hostEnd('endpoint.c.eth0')).ifname, 'nomaster']);
    },
    changes: ['~ endpoint.c.eth0'],
    reasons: ['host end is not on bridge tsn-net'],
    repaired: async () => {
      expect((await hostEnd('endpoint.c.eth0')).master).toBe('tsn-net');
      expect(await pings('kt3-c', '198.18.80.1')).toBe(true);
    },
  },
  {
    name: "gateway address removed from the bridge, and the bridge's mtu changed",
    make: async () => {
      await must(['ip', 'addr', 'del', '198.18.80.1/24', 'dev', 'tsn-net']);
      await must(['ip', 'link', 'set', 'tsn-net', 'mtu', '1400']);
    },
    changes: ['~ network.net'],
    reasons: ['address 198.18.80.1/24 missing', 'mtu 1400 -> 1500'],
    repaired: async () => {
      const br = (await linksIn(null)).find((l) => l.ifname === 'tsn-net')!;
      expect(addrs(br)).toContain('198.18.80.1/24');
      expect(br.mtu).toBe(1500);
    },
  },
  {
    name: 'bridge deleted',
    make: () => must(['ip', 'link', 'del', 'tsn-net']).then(() => {}),
    changes: ['+ network.net', '~ endpoint.a.eth0', '~ endpoint.b.eth0', '~ endpoint.c.eth0'],
    reasons: ['host end is not on bridge tsn-net'],
    repaired: async () => {
      expect(await pings('kt3-a', '198.18.80.2')).toBe(true);
    },
  },
];

/**
 * The drifts made together, each in a different resource (sandbox a, b or c, their endpoints,
 * routes and sysctls, the bridge), so that none changes what another's plan shows. The bridge's
 * own drifts are rounds of their own: they touch every endpoint.
 */
const ROUNDS: string[][] = [
  ['address removed', 'link down', 'mtu changed', 'sysctl changed'],
  ['veth deleted (host end)', 'route removed', 'extra address added'],
  ['whole namespace deleted', 'host end taken off the bridge'],
  ["gateway address removed from the bridge, and the bridge's mtu changed"],
  ['bridge deleted'],
];
if (ROUNDS.flat().sort().join('\n') !== DRIFTS.map((d) => d.name).sort().join('\n')) throw new Error('every drift is in exactly one round');

describeInLab('engine: drift made by hand is named by plan and repaired by apply', () => {
  let empty: KernelDump;
  beforeAll(async () => {
    await removeAll({ netns: NETNS, links: ['tsn-net'] });
    empty = await quietDump();
    await tsnetOk('apply', '--auto-approve', FILE);
  });
  afterAll(async () => {
    const destroy = await tsnet('destroy', '--auto-approve', FILE);
    await removeAll({ netns: NETNS, links: ['tsn-net'] });
    expect(destroy.code, destroy.all).toBe(0);
    expect(await settledDump(empty)).toEqual(empty);
  });

  /** After each test, whatever happened: the topology as applied, so the next starts clean. */
  async function reconverge(): Promise<void> {
    const plan = await tsnet('plan', '--detailed-exitcode', FILE);
    if (plan.code !== 0) await tsnet('apply', '--auto-approve', FILE);
  }

  for (const round of ROUNDS) {
    const drifts = round.map((name) => DRIFTS.find((d) => d.name === name)!);
    it(round.join('; '), async () => {
      let converged = false;
      try {
        for (const d of drifts) await d.make();
        const plan = await tsnet('plan', FILE);
        expect(plan.code, plan.all).toBe(0);
        // The drifted resources, and nothing else, with the reasons.
        const changes = drifts.flatMap((d) => d.changes);
        expect(new Set(changes).size, 'the drifts of a round touch disjoint resources').toBe(changes.length);
        expect(planChanges(plan.stdout).sort(), plan.stdout).toEqual(changes.sort());
        for (const r of drifts.flatMap((d) => d.reasons)) expect(plan.stdout).toContain(r);
        const apply = await tsnet('apply', '--auto-approve', FILE);
        expect(apply.code, apply.all).toBe(0);
        for (const d of drifts) await d.repaired();
        const again = await tsnet('plan', FILE);
        expect(again.stdout).toContain('No changes.');
        converged = true;
      } finally {
        if (!converged) await reconverge();
      }
    });
  }

  // A route made by hand without tsnet's mark (proto 116) where the topology wants one: not
  // tsnet's to change, so plan and apply refuse, naming it, and change nothing.
  it("a route replaced by hand (without tsnet's mark) is refused by plan and apply, naming it", async () => {
    await must(['ip', 'route', 'replace', '198.18.81.0/24', 'via', '198.18.80.2'], { ns: 'kt3-c' });
    try {
      const before = await quietDump();
      for (const args of [['plan', FILE], ['apply', '--auto-approve', FILE]]) {
        const res = await tsnet(...args);
        expect(res.code, res.all).toBe(1);
        expect(res.all).toContain('route.c.198.18.81.0/24');
        expect(res.all).toContain('198.18.81.0/24 via 198.18.80.2');
      }
      expect(await settledDump(before)).toEqual(before);
    } finally {
      await run(['ip', 'route', 'del', '198.18.81.0/24'], { ns: 'kt3-c' });
      await reconverge();
    }
  });
});

// A bridge takes the smallest MTU of its ports: an endpoint with a smaller MTU of its own must
// not shrink the network. The host end keeps the network's MTU; only the inner end gets the
// endpoint's. One apply converges.
describeInLab('engine: an endpoint MTU below its network MTU', () => {
  const MTU_FILE = join(FIXTURES, 'engine-endpoint-mtu.yaml');
  beforeAll(async () => {
    await removeAll({ netns: ['ktm-a', 'ktm-b'], links: ['tsn-mtu'] });
  });
  afterAll(async () => {
    await tsnet('destroy', '--auto-approve', '-q', MTU_FILE);
  });

  it('converges in one apply: inner end at the endpoint MTU, host end and bridge at the network MTU', async () => {
    const res = await tsnet('apply', '--auto-approve', '-q', MTU_FILE);
    expect(res.code, res.all).toBe(0);
    const mtuOf = async (ns: string | null, name: string) => (await linksIn(ns)).find((l) => l.ifname === name || l.ifalias === name)?.mtu;
    expect(await mtuOf(null, 'tsn-mtu')).toBe(1500);
    expect(await mtuOf('ktm-a', 'eth0')).toBe(1400);
    expect(await mtuOf(null, 'tsnet:ktm:endpoint.a.eth0/peer')).toBe(1500);
    expect(await mtuOf('ktm-b', 'eth0')).toBe(1500);
    expect((await tsnet('plan', '--detailed-exitcode', MTU_FILE)).code).toBe(0);
  });
});
