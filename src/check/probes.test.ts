// Planning the probes from a topology: one per address a check names, started where the `from`
// sandbox lives (container: and host modes included), a listener where the address is held;
// --all-pairs per network and family.
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { loadText } from '../model/load.js';
import type { Topology } from '../model/types.js';
import { addressHolders, planProbes, sandboxesInvolved, type Probe } from './probes.js';

const topo = (spec: Record<string, unknown>): Topology => {
  const r = loadText('t.yaml', stringify({ version: 1, name: 't', ...spec }));
  expect(r.diagnostics).toEqual([]);
  return r.topology!;
};

const lab = (checks: unknown[]) =>
  topo({
    networks: { web: { driver: 'bridge', subnet: '198.18.0.0/24' }, back: { driver: 'bridge', subnet: ['198.18.1.0/24', '2001:db8:1::/64'] } },
    sandboxes: {
      app: { endpoints: [{ network: 'web', ip: '198.18.0.10' }] },
      db: { endpoints: [{ network: 'web', ip: '198.18.0.20' }, { network: 'back', ip: ['198.18.1.20', '2001:db8:1::20'] }] },
      side: { mode: 'container:db' },
      mon: { mode: 'host' },
      iso: { mode: 'none' },
    },
    checks,
  });

/** The probes in a short form: from@ns -> address what expect, listener place. */
const brief = (p: Probe) =>
  `${p.from}@${p.fromAt.ns ?? 'host'} -> ${p.to}=${p.address} ${p.port ? `${p.port.proto}/${p.port.number}` : 'icmp'} ${p.expect}${p.listenAt ? ` [listen ${p.listenAt.ns ?? 'host'}]` : ''}`;

describe('planProbes: checks', () => {
  it('a sandbox target gives one probe per address, all endpoints and families; a container: sandbox is its target\'s namespace', () => {
    const t = lab([{ from: 'app', to: 'db', port: 5432 }, { from: 'side', to: 'app' }, { from: 'app', to: 'side', expect: 'blocked' }]);
    expect(planProbes(t, { maxPairs: 10, seed: 1 }).probes.map(brief)).toEqual([
      'app@t-app -> db=198.18.0.20 tcp/5432 reach [listen t-db]',
      'app@t-app -> db=198.18.1.20 tcp/5432 reach [listen t-db]',
      'app@t-app -> db=2001:db8:1::20 tcp/5432 reach [listen t-db]',
      'side@t-db -> app=198.18.0.10 icmp reach [listen t-app]',
      'app@t-app -> side=198.18.0.20 icmp blocked [listen t-db]',
      'app@t-app -> side=198.18.1.20 icmp blocked [listen t-db]',
      'app@t-app -> side=2001:db8:1::20 icmp blocked [listen t-db]',
    ]);
  });

  it('one endpoint; an address held by a sandbox, by the host (a bridge gateway), or by nothing of the file; from the host\'s stack', () => {
    const t = lab([
      { from: 'app', to: 'db.eth1', port: '53/udp' },
      { from: 'app', to: '198.18.0.20', port: 80 },
      { from: 'app', to: '198.18.0.1', port: 80 },
      { from: 'mon', to: '198.18.0.99', port: 80 },
      { from: 'iso', to: '198.18.0.10', expect: 'blocked' },
    ]);
    expect(planProbes(t, { maxPairs: 10, seed: 1 }).probes.map(brief)).toEqual([
      'app@t-app -> db.eth1=198.18.1.20 udp/53 reach [listen t-db]',
      'app@t-app -> db.eth1=2001:db8:1::20 udp/53 reach [listen t-db]',
      'app@t-app -> 198.18.0.20=198.18.0.20 tcp/80 reach [listen t-db]',
      'app@t-app -> 198.18.0.1=198.18.0.1 tcp/80 reach [listen host]',
      'mon@host -> 198.18.0.99=198.18.0.99 tcp/80 reach',
      'iso@t-iso -> 198.18.0.10=198.18.0.10 icmp blocked [listen t-app]',
    ]);
  });

  it('the sandboxes whose namespaces must exist: every from, every sandbox named in to', () => {
    const t = lab([{ from: 'side', to: 'app' }, { from: 'mon', to: '198.18.0.1' }]);
    expect(sandboxesInvolved(t, planProbes(t, { maxPairs: 10, seed: 1 }))).toEqual(['app', 'side', 'mon']);
  });

  it('underlay addresses are held by their host\'s own stack', () => {
    const t = topo({
      hosts: { h1: { via: 'netns t-h1', underlay: '198.19.0.1' }, h2: { via: 'netns t-h2', underlay: '198.19.0.2' } },
      networks: { o: { driver: 'overlay', vni: 5, subnet: '198.18.5.0/24' } },
      sandboxes: { a: { host: 'h1', endpoints: [{ network: 'o' }] }, b: { host: 'h2', endpoints: [{ network: 'o' }] } },
    });
    expect(addressHolders(t).get('198.19.0.2')).toEqual([{ host: 'h2', ns: null }]);
    expect(addressHolders(t).get('198.18.5.3')).toEqual([{ host: 'h2', ns: 't-b' }]);
    // An overlay has no gateway held anywhere: its first address stays free.
    expect(addressHolders(t).has('198.18.5.1')).toBe(false);
  });
});

describe('planProbes: --all-pairs', () => {
  const big = (n: number) =>
    topo({
      networks: { web: { driver: 'bridge', subnet: ['198.18.0.0/20', '2001:db8::/64'] }, two: { driver: 'bridge', subnet: '198.18.16.0/24' } },
      sandboxes: {
        ...Object.fromEntries(Array.from({ length: n }, (_, i) => [`s${i}`, { endpoints: [{ network: 'web' }] }])),
        x: { endpoints: [{ network: 'two' }] },
        y: { endpoints: [{ network: 'two' }] },
        solo: { mode: 'none' },
      },
    });

  it('every ordered pair of endpoints per network and family, ICMP, expect reach; a network with one endpoint adds nothing', () => {
    const plan = planProbes(big(3), { allPairs: true, maxPairs: 100, seed: 1 });
    expect(plan.pairs).toEqual([
      { network: 'web', family: 4, endpoints: 3, total: 6, tried: 6, sampled: false, seed: 1 },
      { network: 'web', family: 6, endpoints: 3, total: 6, tried: 6, sampled: false, seed: 1 },
      { network: 'two', family: 4, endpoints: 2, total: 2, tried: 2, sampled: false, seed: 1 },
    ]);
    expect(plan.probes).toHaveLength(14);
    expect(plan.probes.map(brief).slice(0, 2)).toEqual(['s0@t-s0 -> s1.eth0=198.18.0.3 icmp reach', 's0@t-s0 -> s2.eth0=198.18.0.4 icmp reach']);
    expect(plan.probes.every((p) => !p.port && p.expect === 'reach' && p.source.kind === 'pair')).toBe(true);
  });

  it('1000 sandboxes on one network: 1000 of 999000 pairs per family, every sandbox sending and probed', () => {
    const plan = planProbes(big(1000), { allPairs: true, maxPairs: 1000, seed: 1 });
    expect(plan.pairs.slice(0, 2)).toEqual([
      { network: 'web', family: 4, endpoints: 1000, total: 999000, tried: 1000, sampled: true, seed: 1 },
      { network: 'web', family: 6, endpoints: 1000, total: 999000, tried: 1000, sampled: true, seed: 1 },
    ]);
    const v4 = plan.probes.filter((p) => p.source.kind === 'pair' && p.source.network === 'web' && p.family === 4);
    expect(new Set(v4.map((p) => p.from)).size).toBe(1000);
    expect(new Set(v4.map((p) => p.to)).size).toBe(1000);
  });

  it('past --max-pairs: sampled, the same on every run, with the count of all', () => {
    const a = planProbes(big(60), { allPairs: true, maxPairs: 100, seed: 9 });
    expect(a.pairs[0]).toEqual({ network: 'web', family: 4, endpoints: 60, total: 3540, tried: 100, sampled: true, seed: 9 });
    expect(planProbes(big(60), { allPairs: true, maxPairs: 100, seed: 9 }).probes).toEqual(a.probes);
  });
});
