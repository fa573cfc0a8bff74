// Names that are iproute2 keywords (issue 10): a bridge named `up`, `down` or `nomaster` used to
// make `ip link add up type bridge` create a kernel-named `bridge0`, and interface names like
// `help` or `dev` failed with the blame on the wrong step. tsnet now puts every name after its
// own keyword (`link add name X`, `link set dev X`, `link del dev X`, `peer name X`, `master X`,
// `link X`, `netns X`, `addr ... dev X`). The fixture names 8 bridges, 32 interfaces (and 2
// macvlan ones on a parent named `peer`) and 8 namespaces (`all`, `-all`, `help`, `exec`...) with
// keywords. Applied, the kernel holds exactly those names, every object tsnet made carries its
// mark and nothing unmarked appeared (no `bridge0`); a second plan is empty; destroy leaves the
// lab identical to the dump taken before.
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parse } from 'yaml';
import { readFileSync } from 'node:fs';
import { quietDump, settledDump } from '../support/dump.js';
import { links, type IpLink } from '../support/kernel.js';
import { FIXTURES, describeInLab, must, netnsNames, run, tsnet, tsnetOk } from '../support/lab.js';

const FILE = join(FIXTURES, 'keyword-names.yaml');
const MARK = 'tsnet:kw:';

interface Fixture {
  networks: Record<string, { bridge?: string; parent?: string }>;
  sandboxes: Record<string, { netns: string; endpoints: { network: string; name: string }[] }>;
}
const fixture = parse(readFileSync(FILE, 'utf8')) as Fixture;
const BRIDGES = Object.values(fixture.networks).flatMap((n) => (n.bridge ? [n.bridge] : []));
const NAMESPACES = Object.values(fixture.sandboxes).map((s) => s.netns);
/** The stand-in NIC the macvlan network hangs off, named like a keyword too. */
const PARENT = 'peer';

/** Removes what a failed run may have left: by keyword-safe commands only. */
async function cleanup(): Promise<void> {
  const existing = new Set(await netnsNames());
  for (const ns of NAMESPACES) if (existing.has(ns)) await run(['ip', 'netns', 'del', ns]);
  for (const l of [...BRIDGES, PARENT]) await run(['ip', 'link', 'del', 'dev', l]);
}

const marked = (l: IpLink) => typeof l.ifalias === 'string' && l.ifalias.startsWith(MARK);

describeInLab('names that are iproute2 keywords', () => {
  beforeAll(async () => {
    await cleanup();
    await must(['ip', '-batch', '-'], { input: `link add name ${PARENT} type veth peer name ${PARENT}2\nlink set dev ${PARENT} up\nlink set dev ${PARENT}2 up\n` });
  });
  afterAll(async () => {
    await tsnet('destroy', '--auto-approve', FILE);
    await cleanup();
  });

  it('are made under exactly those names, all marked, nothing else made; destroy leaves the lab as it was', async () => {
    const before = await quietDump();
    const rootBefore = new Set((await links()).map((l) => l.ifname));
    const apply = await tsnet('apply', '--auto-approve', FILE);
    expect(apply.code, apply.all).toBe(0);
    expect(await tsnetOk('plan', FILE)).toContain('No changes.');

    // The host's stack: the bridges under their names, and nothing new that is not marked.
    const root = await links();
    for (const b of BRIDGES) expect(root.find((l) => l.ifname === b)?.linkinfo?.info_kind, b).toBe('bridge');
    const made = root.filter((l) => !rootBefore.has(l.ifname));
    expect(made.filter((l) => !marked(l)).map((l) => l.ifname)).toEqual([]);
    expect(made.map((l) => l.ifname).filter((n) => /^(bridge|veth|macvlan|vxlan)\d+$/.test(n))).toEqual([]);

    // Each namespace under its name, holding lo and exactly the interfaces asked for, all marked.
    expect((await netnsNames()).filter((n) => NAMESPACES.includes(n)).sort()).toEqual([...NAMESPACES].sort());
    for (const sb of Object.values(fixture.sandboxes)) {
      const inside = await links(sb.netns);
      expect(inside.map((l) => l.ifname).sort(), sb.netns).toEqual(['lo', ...sb.endpoints.map((e) => e.name)].sort());
      expect(inside.filter((l) => !marked(l)).map((l) => l.ifname), sb.netns).toEqual([]);
      for (const e of sb.endpoints) {
        const l = inside.find((x) => x.ifname === e.name)!;
        expect(l.flags, `${sb.netns}/${e.name}`).toContain('UP');
        expect(l.linkinfo?.info_kind, `${sb.netns}/${e.name}`).toBe(fixture.networks[e.network]!.parent ? 'macvlan' : 'veth');
      }
    }

    const destroy = await tsnet('destroy', '--auto-approve', FILE);
    expect(destroy.code, destroy.all).toBe(0);
    expect(await settledDump(before)).toEqual(before);
  });
});
