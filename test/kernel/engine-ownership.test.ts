// Ownership: tsnet changes and deletes only what it made for the topology at hand.
//   - Foreign objects (a bridge with a port and an address, a veth pair, a namespace holding a
//     veth end) and the lab's own lo are byte-for-byte the same (`ip -d -json`) after apply and
//     after destroy; so is another topology applied beside it.
//   - A desired name already taken (a foreign bridge, a foreign namespace, a foreign interface
//     with a host end's name, another topology's bridge) is refused by plan and by apply with
//     exit 1 and a message naming it, and nothing at all changes.
//   - A bridge of ours holding a port tsnet does not own is not deleted: destroy refuses, naming it.
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { dumpLink, dumpStack, quietDump, settledDump } from '../support/dump.js';
import { EXAMPLES, FIXTURES, describeInLab, must, removeAll, tsnet, tsnetOk } from '../support/lab.js';

const FILE = join(FIXTURES, 'engine-three.yaml');
const OTHER = join(FIXTURES, 'engine-clash-other.yaml');
const BRIDGE_EXAMPLE = join(EXAMPLES, 'bridge.yaml');
const FOREIGN_NS = 'kt-foreign';
const OWN_NETNS = ['kt3-a', 'kt3-b', 'kt3-c', 'bridge-server', 'bridge-client', 'ktother-x'];
const FOREIGN_LINKS = ['fbr0', 'fva', 'fvc', 'fvd'];

/** Everything foreign, as the kernel prints it. */
async function foreign(): Promise<unknown> {
  return {
    lo: await dumpLink('lo'),
    ...Object.fromEntries(await Promise.all(FOREIGN_LINKS.map(async (l) => [l, await dumpLink(l)] as const))),
    [FOREIGN_NS]: await dumpStack(FOREIGN_NS),
  };
}

/** The host end name tsnet derives for an endpoint, from `tsnet validate --show --json`. */
async function hostIfname(file: string, sandbox: string): Promise<string> {
  const out = JSON.parse(await tsnetOk('validate', '--show', '--json', file)) as {
    files: { topology: { sandboxes: Record<string, { endpoints: { hostIfname: string }[] }> } }[];
  };
  return out.files[0]!.topology.sandboxes[sandbox]!.endpoints[0]!.hostIfname;
}

/** Plan and apply both refuse with exit 1 and every `names` in the message; the kernel stays as it was. */
async function refused(file: string, names: string[]): Promise<void> {
  const before = await quietDump();
  for (const args of [['plan', file], ['apply', '--auto-approve', file]]) {
    const res = await tsnet(...args);
    expect(res.code, res.all).toBe(1);
    for (const n of names) expect(res.all).toContain(n);
    expect(res.all).toContain('nothing was changed');
  }
  expect(await settledDump(before)).toEqual(before);
}

describeInLab('engine: ownership, foreign objects and name clashes', () => {
  beforeAll(async () => {
    await removeAll({ netns: [...OWN_NETNS, FOREIGN_NS], links: [...FOREIGN_LINKS, 'tsn-net', 'tsn-web'] });
    // Foreign objects, made the way another tool would: a bridge with an address and a port
    // whose peer sits in a namespace of its own, and a plain veth pair with an address.
    await must(['ip', 'netns', 'add', FOREIGN_NS]);
    await must(['ip', '-batch', '-'], {
      input: [
        'link add fbr0 type bridge',
        'addr add 198.18.99.1/24 dev fbr0',
        'link set fbr0 up',
        `link add fva type veth peer name fvb netns ${FOREIGN_NS}`,
        'link set fva master fbr0 up',
        'link add fvc type veth peer name fvd',
        'addr add 192.0.2.1/24 dev fvc',
        'link set fvc up',
        'link set fvd up',
        '',
      ].join('\n'),
    });
    await must(['ip', '-batch', '-'], { ns: FOREIGN_NS, input: 'link set lo up\naddr add 198.18.99.2/24 dev fvb\nlink set fvb up\n' });
  });
  afterAll(async () => {
    for (const f of [FILE, BRIDGE_EXAMPLE]) await tsnet('destroy', '--auto-approve', f);
    await removeAll({ netns: [...OWN_NETNS, FOREIGN_NS], links: [...FOREIGN_LINKS, 'tsn-net', 'tsn-web'] });
  });

  it('apply and destroy leave foreign objects, lo and another topology exactly as they were', async () => {
    await tsnetOk('apply', '--auto-approve', BRIDGE_EXAMPLE);
    const before = await quietDump();
    const foreignBefore = await foreign();
    const apply = await tsnet('apply', '--auto-approve', FILE);
    expect(apply.code, apply.all).toBe(0);
    expect(await foreign()).toEqual(foreignBefore);
    // What the plan showed touches nothing foreign: a re-plan has nothing to do either.
    expect((await tsnet('plan', FILE)).stdout).toContain('No changes.');
    const destroy = await tsnet('destroy', '--auto-approve', FILE);
    expect(destroy.code, destroy.all).toBe(0);
    // Foreign objects, lo, and bridge.yaml's namespaces, bridge and veths: all as before.
    expect(await settledDump(before)).toEqual(before);
    // bridge.yaml stays applied for the next test (one apply and destroy of it for both).
  });

  it("another topology's bridge with the wanted name is refused, naming its owner", async () => {
    // bridge.yaml as the test above left it: applied.
    try {
      await refused(OTHER, ['network.web', '"tsn-web"', 'topology "bridge"']);
    } finally {
      await tsnetOk('destroy', '--auto-approve', BRIDGE_EXAMPLE);
    }
  });

  it('a foreign bridge with the wanted bridge name is refused, naming it', async () => {
    await must(['ip', 'link', 'add', 'tsn-net', 'type', 'bridge']);
    try {
      await refused(FILE, ['network.net', 'foreign bridge "tsn-net"']);
    } finally {
      await must(['ip', 'link', 'del', 'tsn-net']);
    }
  });

  it('a foreign namespace with a wanted namespace name is refused, naming it', async () => {
    await must(['ip', 'netns', 'add', 'kt3-b']);
    try {
      await refused(FILE, ['sandbox.b', 'foreign namespace "kt3-b"']);
    } finally {
      await must(['ip', 'netns', 'del', 'kt3-b']);
    }
  });

  it("a foreign interface with a host end's name is refused, naming it", async () => {
    const name = await hostIfname(FILE, 'a');
    await must(['ip', 'link', 'add', name, 'type', 'veth', 'peer', 'name', 'ktfx-peer']);
    try {
      await refused(FILE, ['endpoint.a.eth0', `"${name}"`]);
    } finally {
      await must(['ip', 'link', 'del', name]);
    }
  });

  // The two destroy refusals share one apply of FILE: the first leaves it applied for the second.
  it('destroy refuses to delete a bridge that holds a foreign port, naming it, and changes nothing', async () => {
    await tsnetOk('apply', '--auto-approve', FILE);
    await must(['ip', 'link', 'add', 'ktfp-a', 'type', 'veth', 'peer', 'name', 'ktfp-b']);
    try {
      await must(['ip', 'link', 'set', 'ktfp-a', 'master', 'tsn-net', 'up']);
      const before = await quietDump();
      const res = await tsnet('destroy', '--auto-approve', FILE);
      expect(res.code, res.all).toBe(1);
      expect(res.all).toContain('cannot delete bridge "tsn-net"');
      expect(res.all).toContain('ktfp-a (not made by tsnet)');
      expect(res.all).toContain('nothing was changed');
      expect(await settledDump(before)).toEqual(before);
    } finally {
      await must(['ip', 'link', 'del', 'ktfp-a']);
    }
  });

  it("destroy refuses to delete a namespace that holds a user's interface (its peer would go too), and changes nothing", async () => {
    // FILE as the test above left it: applied.
    // A user's veth with one end inside sandbox a's namespace and the other in the lab's stack.
    await must(['ip', 'link', 'add', 'ktfn-host', 'type', 'veth', 'peer', 'name', 'ktfn-in', 'netns', 'kt3-a']);
    try {
      const before = await quietDump();
      const res = await tsnet('destroy', '--auto-approve', FILE);
      expect(res.code, res.all).toBe(1);
      expect(res.all).toContain('cannot delete namespace "kt3-a": interfaces tsnet does not own are in it: ktfn-in (veth, not made by tsnet)');
      expect(res.all).toContain('nothing was changed');
      expect(await settledDump(before)).toEqual(before);
    } finally {
      await must(['ip', 'link', 'del', 'ktfn-host']);
      await tsnetOk('destroy', '--auto-approve', FILE);
    }
  });

});
