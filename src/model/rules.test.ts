// Each rule on its own: a small topology is built as data, written as YAML (so that positions
// exist), checked against the schema (which must pass, so only the rule speaks), prepared, and
// given to one rule.
import { dnsSettings, externalSandboxes } from './sandbox-rules.js';
import { allowRules, portRules } from './firewall.js';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { prepare } from './prepare.js';
import { macvlanParent, macvlanPassthru } from '../appliers/macvlan.js';
import { overlayUnderlay, overlayVni } from '../appliers/overlay.js';
import { DRIVERS } from '../appliers/registry.js';
import {
  RULES,
  allRules,
  containerTarget,
  duplicateInterface,
  endpointAddresses,
  endpointNetwork,
  hostAddresses,
  kernelNames,
  localScope,
  longestPrefix,
  macAddresses,
  modeContents,
  mtuRange,
  networkSubnets,
  routeVia,
  runRules,
  sandboxHost,
  subnetOverlap,
  sysctlConflicts,
  type Rule,
} from './rules.js';
import { checkSchema } from './schema-check.js';
import { sysctlKeys, sysctlValues } from './sysctls.js';
import { checkReferences } from '../check/rules.js';
import { shapingValues } from './shaping-rule.js';
import { SourceFile } from './source.js';
import type { TopologyFile } from './types.js';

type Spec = Record<string, unknown>;

/** Runs one rule on `spec` (version and name added); the schema must accept it unless `schemaErrors`. */
function run(rule: Rule, spec: Spec, { schemaErrors = false } = {}) {
  const source = new SourceFile('t.yaml', stringify({ version: 1, name: 't', ...spec }));
  const data = source.toJS();
  const schema = checkSchema(source, data);
  if (!schemaErrors) expect(schema.diagnostics, 'the schema should accept this spec').toEqual([]);
  const p = prepare(data as TopologyFile, schema.brokenPaths);
  return runRules(p, source, [rule]);
}

/** The (code, path) pairs a rule reports. */
const found = (rule: Rule, spec: Spec, opts?: { schemaErrors?: boolean }) => run(rule, spec, opts).map((d) => `${d.code} ${d.path}`);

const bridge = (subnet?: string | string[], extra: Spec = {}) => ({ driver: 'bridge', ...(subnet ? { subnet } : {}), ...extra });
const overlay = (vni: number | undefined, subnet: string, extra: Spec = {}) => ({ driver: 'overlay', subnet, ...(vni !== undefined ? { vni } : {}), ...extra });
const macvlan = (extra: Spec = {}) => ({ driver: 'macvlan', parent: 'eth0', subnet: '198.18.40.0/24', ...extra });
const ep = (network: string, extra: Spec = {}) => ({ network, ...extra });
const sb = (...endpoints: Spec[]) => ({ endpoints });
const twoHosts = {
  h1: { via: 'netns t-h1', underlay: '198.19.0.1' },
  h2: { via: 'netns t-h2', underlay: '198.19.0.2' },
};

describe('hostAddresses', () => {
  it('accepts distinct underlays, one local host and distinct namespaces', () => {
    expect(found(hostAddresses, { hosts: { a: { via: 'local', underlay: '198.19.0.9' }, ...twoHosts } })).toEqual([]);
  });

  it('refuses an underlay that is not an address, with a hint for a prefix', () => {
    const [d] = run(hostAddresses, { hosts: { a: { via: 'local', underlay: '198.19.0.1/24' } } });
    expect(d).toMatchObject({ code: 'bad-address', path: '/hosts/a/underlay', resource: 'host.a', hint: 'write the address without a prefix length' });
    expect(found(hostAddresses, { hosts: { a: { via: 'local', underlay: 'h1.example' } } })).toEqual(['bad-address /hosts/a/underlay']);
  });

  it('refuses the same underlay twice, also when written differently', () => {
    expect(
      found(hostAddresses, { hosts: { a: { via: 'netns a', underlay: '2001:db8::1' }, b: { via: 'netns b', underlay: '2001:DB8:0::1' } } }),
    ).toEqual(['duplicate-underlay /hosts/b/underlay']);
  });

  it('refuses two local hosts and two hosts in one namespace', () => {
    expect(found(hostAddresses, { hosts: { a: { via: 'local' }, b: { via: 'local' } } })).toEqual(['duplicate-local-host /hosts/b/via']);
    expect(found(hostAddresses, { hosts: { a: { via: 'netns x' }, b: { via: 'netns x' } } })).toEqual(['duplicate-host-netns /hosts/b/via']);
    expect(found(hostAddresses, { hosts: { a: { via: 'ssh root@h' }, b: { via: 'ssh root@h' } } })).toEqual([]);
  });
});

describe('sandboxHost', () => {
  it('needs no host with one host, implicit or declared', () => {
    expect(found(sandboxHost, { sandboxes: { a: {} } })).toEqual([]);
    expect(found(sandboxHost, { hosts: { h1: { via: 'local' } }, sandboxes: { a: {} } })).toEqual([]);
  });

  it('requires a host with several, pointing at the sandbox\'s key', () => {
    const [d] = run(sandboxHost, { hosts: twoHosts, sandboxes: { a: {}, b: { host: 'h2' } } });
    expect(d).toMatchObject({ code: 'host-required', path: '/sandboxes/a', hint: 'add "host: h1" (hosts: h1, h2)', start: { line: 11, col: 3 } });
  });

  it('refuses an undeclared host, suggesting the nearest', () => {
    expect(run(sandboxHost, { hosts: twoHosts, sandboxes: { a: { host: 'h3' } } })[0]).toMatchObject({
      code: 'unknown-host',
      path: '/sandboxes/a/host',
      hint: 'did you mean "h1"?',
    });
    expect(run(sandboxHost, { sandboxes: { a: { host: 'elsewhere' } } })[0]?.hint).toMatch(/leave "host" out/);
  });

  it('stays quiet about hosts that failed the schema', () => {
    expect(found(sandboxHost, { hosts: { h1: { via: 'local' }, h2: { via: 'bad' } }, sandboxes: { a: { host: 'h2' } } }, { schemaErrors: true })).toEqual([]);
    expect(found(sandboxHost, { hosts: ['h1'], sandboxes: { a: { host: 'h1' } } }, { schemaErrors: true })).toEqual([]);
  });

  it('counts hosts that failed the schema when deciding whether a host is required', () => {
    expect(found(sandboxHost, { hosts: { h1: { via: 'local' }, h2: { via: 'bad' } }, sandboxes: { a: {} } }, { schemaErrors: true })).toEqual([
      'host-required /sandboxes/a',
    ]);
  });
});

describe('networkSubnets', () => {
  it('accepts one subnet per family with gateway, range and reserved inside', () => {
    expect(
      found(networkSubnets, {
        networks: {
          ds: bridge(['198.18.0.0/24', '2001:db8::/64'], { gateway: ['198.18.0.254', '2001:db8::1'], ipRange: ['198.18.0.128/25'], reserved: ['198.18.0.200', '2001:db8::5'] }),
          auto: bridge(),
        },
      }),
    ).toEqual([]);
  });

  it('refuses subnets that overlap ranges no network can use, and only those', () => {
    for (const subnet of ['0.0.0.0/0', '0.1.0.0/16', '127.0.0.0/8', '169.254.0.0/16', '169.254.7.0/24', '169.0.0.0/8', '224.0.0.0/24', '240.0.0.0/24', '255.255.255.0/24', '::/0', 'fe80::/64', 'ff02::/16']) {
      expect(found(networkSubnets, { networks: { n: bridge(subnet) } }), subnet).toEqual(['subnet-reserved /networks/n/subnet']);
    }
    for (const subnet of ['1.0.0.0/8', '126.255.255.0/24', '128.0.0.0/16', '169.253.0.0/16', '169.255.0.0/16', '223.255.255.0/24', '2001:db8::/64', 'fd00::/8', 'fec0::/10']) {
      expect(found(networkSubnets, { networks: { n: bridge(subnet) } }), subnet).toEqual([]);
    }
  });

  it('refuses subnets that are not CIDRs, with host bits, too small, or two of one family', () => {
    expect(found(networkSubnets, { networks: { a: bridge('lan') } })).toEqual(['bad-cidr /networks/a/subnet']);
    expect(run(networkSubnets, { networks: { a: bridge('198.18.0.5/24') } })[0]?.hint).toBe('did you mean "198.18.0.0/24"?');
    expect(found(networkSubnets, { networks: { a: bridge('198.18.0.0/31') } })).toEqual(['subnet-too-small /networks/a/subnet']);
    expect(found(networkSubnets, { networks: { a: bridge('198.18.0.0/30') } })).toEqual([]);
    expect(found(networkSubnets, { networks: { a: bridge('198.18.0.1/32') } })).toEqual(['subnet-too-small /networks/a/subnet']);
    expect(found(networkSubnets, { networks: { a: bridge(['198.18.0.0/24', '198.18.1.0/24']) } })).toEqual(['duplicate-family /networks/a/subnet/1']);
  });

  it('refuses IPv6 subnets with no room for a gateway and an endpoint: /127 and /128 (the default gateway of a /128 is outside it)', () => {
    for (const subnet of ['2001:db8::1/128', '2001:db8::/127'])
      expect(run(networkSubnets, { networks: { a: bridge(subnet) } }).map((d) => `${d.code} ${d.message}`), subnet).toEqual([
        `subnet-too-small subnet ${subnet} is too small: network "a" needs room for a gateway and endpoints (at most /126)`,
      ]);
    expect(found(networkSubnets, { networks: { a: bridge(['198.18.0.0/24', '2001:db8::1/128']) } })).toEqual(['subnet-too-small /networks/a/subnet/1']);
    expect(found(networkSubnets, { networks: { a: bridge('2001:db8::/126') } })).toEqual([]);
    for (const driver of [macvlan({ subnet: '2001:db8::1/128' }), overlay(1, '2001:db8::1/128')])
      expect(found(networkSubnets, { networks: { a: driver } }), driver.driver).toEqual(['subnet-too-small /networks/a/subnet']);
  });

  it('sizes subnets by whether the network needs a gateway: without one, the two ends of a link fit a /31 or /127', () => {
    expect([longestPrefix(4, { gateway: true }), longestPrefix(6, { gateway: true })]).toEqual([30, 126]);
    expect([longestPrefix(4, { gateway: false }), longestPrefix(6, { gateway: false })]).toEqual([31, 127]);
  });

  it('requires a subnet for macvlan and overlay networks, but not for bridges', () => {
    expect(found(networkSubnets, { networks: { m: { driver: 'macvlan', parent: 'eth0' } } })).toEqual(['macvlan-needs-subnet /networks/m']);
    expect(found(networkSubnets, { networks: { o: { driver: 'overlay', vni: 1 } } })).toEqual(['overlay-needs-subnet /networks/o']);
    expect(found(networkSubnets, { networks: { b: bridge() } })).toEqual([]);
  });

  it('checks gateways: an address, inside, not the network or broadcast address, one per family', () => {
    expect(found(networkSubnets, { networks: { a: bridge('198.18.0.0/24', { gateway: '198.18.1.1' }) } })).toEqual(['gateway-outside-subnet /networks/a/gateway']);
    expect(found(networkSubnets, { networks: { a: bridge('198.18.0.0/24', { gateway: '198.18.0.0' }) } })).toEqual(['address-not-usable /networks/a/gateway']);
    expect(found(networkSubnets, { networks: { a: bridge('198.18.0.0/24', { gateway: '198.18.0.255' }) } })).toEqual(['address-not-usable /networks/a/gateway']);
    expect(found(networkSubnets, { networks: { a: bridge('198.18.0.0/24', { gateway: 'router' }) } })).toEqual(['bad-address /networks/a/gateway']);
    expect(found(networkSubnets, { networks: { a: bridge('198.18.0.0/24', { gateway: ['198.18.0.1', '198.18.0.2'] }) } })).toEqual([
      'duplicate-family /networks/a/gateway/1',
    ]);
  });

  it('checks ipRange and reserved', () => {
    expect(found(networkSubnets, { networks: { a: bridge('198.18.0.0/24', { ipRange: '198.18.0.0/23' }) } })).toEqual(['range-outside-subnet /networks/a/ipRange']);
    expect(found(networkSubnets, { networks: { a: bridge('198.18.0.0/24', { ipRange: '198.18.0.1/25' }) } })).toEqual(['bad-cidr /networks/a/ipRange']);
    expect(found(networkSubnets, { networks: { a: bridge('198.18.0.0/24', { reserved: ['198.18.0.9', '198.18.9.9'] }) } })).toEqual([
      'reserved-outside-subnet /networks/a/reserved/1',
    ]);
  });
});

describe('mtuRange', () => {
  it('accepts 68 and 65535', () => {
    expect(found(mtuRange, { networks: { a: bridge(undefined, { mtu: 68 }) }, sandboxes: { x: sb(ep('a', { mtu: 65535 })) } })).toEqual([]);
  });

  it('refuses 67 on a network and 65536 on an endpoint', () => {
    expect(found(mtuRange, { networks: { a: bridge(undefined, { mtu: 67 }) }, sandboxes: { x: sb(ep('a', { mtu: 65536 })) } })).toEqual([
      'mtu-range /networks/a/mtu',
      'mtu-range /sandboxes/x/endpoints/0/mtu',
    ]);
  });

  it('refuses an MTU below 1280 on a network with IPv6, or on its endpoints; not on IPv4-only ones', () => {
    const ds = ['198.18.0.0/24', '2001:db8::/64'];
    expect(found(mtuRange, { networks: { a: bridge(ds, { mtu: 1279 }) }, sandboxes: { x: sb(ep('a', { mtu: 1000 })) } })).toEqual([
      'mtu-too-small-for-ipv6 /networks/a/mtu',
      'mtu-too-small-for-ipv6 /sandboxes/x/endpoints/0/mtu',
    ]);
    expect(found(mtuRange, { networks: { a: bridge(ds, { mtu: 1280 }) } })).toEqual([]);
    expect(found(mtuRange, { networks: { a: bridge('198.18.0.0/24', { mtu: 576 }) }, sandboxes: { x: sb(ep('a', { mtu: 576 })) } })).toEqual([]);
  });
});

describe('macvlanParent and macvlanPassthru', () => {
  it('requires a parent', () => {
    expect(found(macvlanParent, { networks: { m: macvlan() } })).toEqual([]);
    expect(found(macvlanParent, { networks: { m: { driver: 'macvlan', subnet: '198.18.40.0/24' } } })).toEqual(['macvlan-no-parent /networks/m']);
  });

  it('gives a passthru parent to one endpoint only', () => {
    const spec = (mode: string, n: number) => ({
      networks: { m: macvlan({ mode }) },
      sandboxes: Object.fromEntries(Array.from({ length: n }, (_, i) => [`s${i}`, sb(ep('m'))])),
    });
    expect(found(macvlanPassthru, spec('passthru', 1))).toEqual([]);
    expect(found(macvlanPassthru, spec('bridge', 3))).toEqual([]);
    expect(found(macvlanPassthru, spec('passthru', 3))).toEqual([
      'passthru-one-endpoint /sandboxes/s1/endpoints/0/network',
      'passthru-one-endpoint /sandboxes/s2/endpoints/0/network',
    ]);
  });

  it('refuses a mac on a passthru endpoint (the kernel would set it on the parent), not on other modes', () => {
    const spec = (mode: string) => ({ networks: { m: macvlan({ mode }) }, sandboxes: { s: sb({ network: 'm', mac: '02:00:00:00:00:aa' }) } });
    expect(found(macvlanPassthru, spec('passthru'))).toEqual(['passthru-mac /sandboxes/s/endpoints/0/mac']);
    expect(found(macvlanPassthru, spec('bridge'))).toEqual([]);
  });
});

describe('overlayVni', () => {
  it('accepts distinct VNIs in range and a UDP port', () => {
    expect(found(overlayVni, { networks: { a: overlay(1, '198.18.1.0/24'), b: overlay(16777215, '198.18.2.0/24', { port: 8472 }) } })).toEqual([]);
  });

  it('refuses a missing, out-of-range or repeated VNI and a bad port', () => {
    expect(found(overlayVni, { networks: { a: overlay(undefined, '198.18.1.0/24') } })).toEqual(['overlay-no-vni /networks/a']);
    expect(found(overlayVni, { networks: { a: overlay(0, '198.18.1.0/24') } })).toEqual(['vni-range /networks/a/vni']);
    expect(found(overlayVni, { networks: { a: overlay(16777216, '198.18.1.0/24') } })).toEqual(['vni-range /networks/a/vni']);
    expect(found(overlayVni, { networks: { a: overlay(5, '198.18.1.0/24'), b: overlay(5, '198.18.2.0/24') } })).toEqual(['duplicate-vni /networks/b/vni']);
    expect(found(overlayVni, { networks: { a: overlay(5, '198.18.1.0/24', { port: 65536 }) } })).toEqual(['port-range /networks/a/port']);
  });
});

describe('overlayUnderlay', () => {
  const spec = (hosts: Spec) => ({
    hosts,
    networks: { o: overlay(1, '198.18.1.0/24') },
    sandboxes: { a: { host: 'h1', ...sb(ep('o')) }, b: { host: 'h2', ...sb(ep('o')) } },
  });

  it('accepts hosts with underlays', () => {
    expect(found(overlayUnderlay, spec(twoHosts))).toEqual([]);
  });

  it('names the hosts that lack one', () => {
    const d = run(overlayUnderlay, spec({ h1: twoHosts.h1, h2: { via: 'netns t-h2' } }));
    expect(d).toMatchObject([{ code: 'overlay-no-underlay', path: '/networks/o/driver', message: expect.stringContaining('"h2"') }]);
  });

  it('ignores hosts the overlay does not run on', () => {
    expect(found(overlayUnderlay, { ...spec(twoHosts), hosts: { ...twoHosts, h3: { via: 'netns t-h3' } } })).toEqual([]);
  });

  it('refuses an overlay without declared hosts', () => {
    expect(found(overlayUnderlay, { networks: { o: overlay(1, '198.18.1.0/24') }, sandboxes: { a: sb(ep('o')) } })).toEqual(['overlay-no-underlay /networks/o/driver']);
  });
});

describe('localScope', () => {
  const spec = (driver: Spec) => ({
    hosts: twoHosts,
    networks: { n: driver },
    sandboxes: { a: { host: 'h1', ...sb(ep('n')) }, b: { host: 'h2', ...sb(ep('n')) }, c: { host: 'h2', ...sb(ep('n')) } },
  });

  it('refuses bridge and macvlan networks on two hosts, at each endpoint on the second', () => {
    expect(found(localScope, spec(bridge('198.18.1.0/24')))).toEqual([
      'network-spans-hosts /sandboxes/b/endpoints/0/network',
      'network-spans-hosts /sandboxes/c/endpoints/0/network',
    ]);
    expect(found(localScope, spec(macvlan()))).toHaveLength(2);
  });

  it('lets overlays span hosts, and bridges stay on one', () => {
    expect(found(localScope, spec(overlay(1, '198.18.1.0/24')))).toEqual([]);
    expect(found(localScope, { ...spec(bridge('198.18.1.0/24')), sandboxes: { a: { host: 'h2', ...sb(ep('n')) }, b: { host: 'h2', ...sb(ep('n')) } } })).toEqual([]);
  });
});

describe('subnetOverlap', () => {
  it('refuses overlapping subnets of two networks on one host', () => {
    expect(found(subnetOverlap, { networks: { a: bridge('198.18.0.0/23'), b: bridge('198.18.1.0/24') } })).toEqual(['subnet-overlap /networks/b/subnet']);
    expect(found(subnetOverlap, { networks: { a: bridge('198.18.0.0/24'), b: bridge('198.18.1.0/24') } })).toEqual([]);
  });

  it('compares each family separately and points at the list item', () => {
    expect(found(subnetOverlap, { networks: { a: bridge(['198.18.0.0/24', '2001:db8::/64']), b: bridge(['198.18.1.0/24', '2001:db8::/48']) } })).toEqual([
      'subnet-overlap /networks/b/subnet/1',
    ]);
  });

  it('allows the same subnet for bridge networks on different hosts', () => {
    const spec = {
      hosts: twoHosts,
      networks: { a: bridge('198.18.0.0/24'), b: bridge('198.18.0.0/24') },
      sandboxes: { x: { host: 'h1', ...sb(ep('a')) }, y: { host: 'h2', ...sb(ep('b')) } },
    };
    expect(found(subnetOverlap, spec)).toEqual([]);
  });

  it('refuses an overlay subnet that overlaps a bridge on any host', () => {
    const spec = {
      hosts: twoHosts,
      networks: { o: overlay(1, '198.18.0.0/24'), b: bridge('198.18.0.0/25') },
      sandboxes: { x: { host: 'h1', ...sb(ep('o')) }, y: { host: 'h2', ...sb(ep('b')) } },
    };
    expect(found(subnetOverlap, spec)).toEqual(['subnet-overlap /networks/b/subnet']);
  });
});

describe('endpointNetwork', () => {
  it('refuses an undeclared network, suggesting the nearest', () => {
    const [d] = run(endpointNetwork, { networks: { frontend: bridge() }, sandboxes: { a: sb(ep('fronted')) } });
    expect(d).toMatchObject({ code: 'unknown-network', path: '/sandboxes/a/endpoints/0/network', resource: 'endpoint.a.eth0', hint: 'did you mean "frontend"?' });
  });

  it('refuses joining one network twice', () => {
    expect(found(endpointNetwork, { networks: { n: bridge() }, sandboxes: { a: sb(ep('n'), ep('n')) } })).toEqual(['duplicate-join /sandboxes/a/endpoints/1/network']);
  });

  it('does not call a network unknown when it failed the schema, or when no network could be read', () => {
    expect(found(endpointNetwork, { networks: { n: { driver: 'bridg' } }, sandboxes: { a: sb(ep('n')) } }, { schemaErrors: true })).toEqual([]);
    expect(found(endpointNetwork, { networks: 5, sandboxes: { a: sb(ep('n')) } }, { schemaErrors: true })).toEqual([]);
  });
});

describe('endpointAddresses', () => {
  const net = { n: bridge(['198.18.0.0/24', '2001:db8::/64'], { gateway: '198.18.0.254' }) };
  const one = (ip: string | string[]) => found(endpointAddresses, { networks: net, sandboxes: { a: sb(ep('n', { ip })) } });

  it('accepts usable addresses inside the subnet, one per family', () => {
    expect(one(['198.18.0.1', '2001:db8::10'])).toEqual([]);
  });

  it('refuses what is not an address, or two of one family', () => {
    expect(one('198.18.0.5/24')).toEqual(['bad-address /sandboxes/a/endpoints/0/ip']);
    expect(one(['198.18.0.5', '198.18.0.6'])).toEqual(['too-many-addresses /sandboxes/a/endpoints/0/ip/1']);
  });

  it('refuses addresses outside the subnet or of a family the network lacks', () => {
    expect(one('198.18.1.5')).toEqual(['address-outside-subnet /sandboxes/a/endpoints/0/ip']);
    const [d] = run(endpointAddresses, { networks: { n: bridge('198.18.0.0/24') }, sandboxes: { a: sb(ep('n', { ip: '2001:db8::5' })) } });
    expect(d?.message).toMatch(/has no IPv6 subnet/);
    expect(found(endpointAddresses, { networks: { n: bridge() }, sandboxes: { a: sb(ep('n', { ip: '172.17.0.5' })) } })).toEqual([
      'address-outside-subnet /sandboxes/a/endpoints/0/ip',
    ]);
  });

  it('refuses the network, broadcast and gateway addresses', () => {
    expect(one('198.18.0.0')).toEqual(['address-is-network /sandboxes/a/endpoints/0/ip']);
    expect(one('198.18.0.255')).toEqual(['address-is-broadcast /sandboxes/a/endpoints/0/ip']);
    expect(one('198.18.0.254')).toEqual(['address-is-gateway /sandboxes/a/endpoints/0/ip']);
    expect(one(['198.18.0.5', '2001:db8::1'])).toEqual(['address-is-gateway /sandboxes/a/endpoints/0/ip/1']);
  });

  it('lets overlay endpoints use the first address: an overlay has no gateway on it', () => {
    expect(
      found(endpointAddresses, { hosts: twoHosts, networks: { o: overlay(1, '198.18.1.0/24') }, sandboxes: { a: { host: 'h1', ...sb(ep('o', { ip: '198.18.1.1' })) } } }),
    ).toEqual([]);
  });

  it('refuses one address twice on a network, however it is written', () => {
    const spec = { networks: net, sandboxes: { a: sb(ep('n', { ip: '2001:db8::5' })), b: sb(ep('n', { ip: '2001:DB8:0::5' })) } };
    expect(found(endpointAddresses, spec)).toEqual(['duplicate-address /sandboxes/b/endpoints/0/ip']);
  });

  it('allows one address on two networks', () => {
    const spec = { networks: { n: bridge('198.18.0.0/24') }, sandboxes: { a: sb(ep('n', { ip: '198.18.0.5' })) } };
    expect(found(endpointAddresses, spec)).toEqual([]);
  });
});

describe('duplicateInterface', () => {
  const nets = { a: bridge(), b: bridge() };

  it('accepts default names eth0, eth1 and distinct explicit names', () => {
    expect(found(duplicateInterface, { networks: nets, sandboxes: { x: sb(ep('a'), ep('b')), y: sb(ep('a', { name: 'up' }), ep('b', { name: 'down' })) } })).toEqual([]);
  });

  it('refuses a name used twice, explicit or by default', () => {
    expect(found(duplicateInterface, { networks: nets, sandboxes: { x: sb(ep('a', { name: 'up' }), ep('b', { name: 'up' })) } })).toEqual([
      'duplicate-interface /sandboxes/x/endpoints/1/name',
    ]);
    const [d] = run(duplicateInterface, { networks: nets, sandboxes: { x: sb(ep('a', { name: 'eth1' }), ep('b')) } });
    expect(d).toMatchObject({ code: 'duplicate-interface', path: '/sandboxes/x/endpoints/1', hint: expect.stringContaining('by default') });
  });

  it('refuses "lo"', () => {
    expect(found(duplicateInterface, { networks: nets, sandboxes: { x: sb(ep('a', { name: 'lo' })) } })).toEqual(['duplicate-interface /sandboxes/x/endpoints/0/name']);
  });
});

describe('modeContents', () => {
  const nets = { n: bridge('198.18.0.0/24') };
  const full = { ...sb(ep('n')), routes: [{ to: 'default', via: '198.18.0.1' }], sysctls: { 'net.ipv4.ip_forward': 1 }, netns: 'x' };

  it('lets an own sandbox have everything', () => {
    expect(found(modeContents, { networks: nets, sandboxes: { a: full } })).toEqual([]);
  });

  it('lets a none sandbox have sysctls and a namespace name, but no endpoints or routes', () => {
    expect(found(modeContents, { networks: nets, sandboxes: { a: { mode: 'none', ...full } } })).toEqual([
      'endpoints-not-allowed /sandboxes/a/endpoints',
      'routes-not-allowed /sandboxes/a/routes',
    ]);
  });

  it('gives host and container sandboxes nothing of their own', () => {
    const expected = (s: string) => [
      `endpoints-not-allowed /sandboxes/${s}/endpoints`,
      `routes-not-allowed /sandboxes/${s}/routes`,
      `sysctls-not-allowed /sandboxes/${s}/sysctls`,
      `netns-not-allowed /sandboxes/${s}/netns`,
    ];
    expect(found(modeContents, { networks: nets, sandboxes: { h: { mode: 'host', ...full } } })).toEqual(expected('h'));
    expect(found(modeContents, { networks: nets, sandboxes: { t: {}, c: { mode: 'container:t', ...full } } })).toEqual(expected('c'));
  });

  it('does not count empty lists and mappings', () => {
    expect(found(modeContents, { sandboxes: { h: { mode: 'host', endpoints: [], routes: [], sysctls: {} } } })).toEqual([]);
  });
});

describe('containerTarget', () => {
  it('accepts a chain to an own sandbox', () => {
    expect(found(containerTarget, { sandboxes: { a: {}, b: { mode: 'container:a' }, c: { mode: 'container:b' } } })).toEqual([]);
  });

  it('refuses a missing target (with a hint), itself, and a cycle at each member', () => {
    expect(run(containerTarget, { sandboxes: { app: {}, a: { mode: 'container:ap' } } })[0]).toMatchObject({
      code: 'unknown-container',
      path: '/sandboxes/a/mode',
      hint: 'did you mean "container:app"?',
    });
    expect(found(containerTarget, { sandboxes: { a: { mode: 'container:a' } } })).toEqual(['container-self /sandboxes/a/mode']);
    expect(found(containerTarget, { sandboxes: { a: { mode: 'container:b' }, b: { mode: 'container:a' }, c: { mode: 'container:a' } } })).toEqual([
      'container-cycle /sandboxes/a/mode',
      'container-cycle /sandboxes/b/mode',
    ]);
  });

  it('refuses a target on another host, following the chain', () => {
    const spec = { hosts: twoHosts, sandboxes: { a: { host: 'h1' }, b: { host: 'h2', mode: 'container:a' }, c: { host: 'h1', mode: 'container:b' } } };
    expect(found(containerTarget, spec)).toEqual(['container-host-mismatch /sandboxes/b/mode']);
  });

  it('does not call a target missing when it failed the schema', () => {
    expect(found(containerTarget, { sandboxes: { a: { mode: 'container:b' }, b: { endpoints: 5 } } }, { schemaErrors: true })).toEqual([]);
  });
});

describe('routeVia', () => {
  const nets = { n: bridge(['198.18.0.0/24', '2001:db8::/64']) };
  const routes = (...rs: Spec[]) => found(routeVia, { networks: nets, sandboxes: { a: { ...sb(ep('n', { ip: '198.18.0.5' })), routes: rs } } });

  it('accepts routes via reachable addresses, per family, and bare destinations as host routes', () => {
    expect(routes({ to: 'default', via: '198.18.0.254' }, { to: 'default', via: '2001:db8::1' }, { to: '10.0.0.0/8', via: '198.18.0.1' }, { to: '10.1.2.3', via: '198.18.0.1' })).toEqual([]);
  });

  it('refuses a via no endpoint can reach, or the sandbox\'s own address', () => {
    expect(routes({ to: 'default', via: '198.18.1.1' })).toEqual(['unreachable-via /sandboxes/a/routes/0/via']);
    expect(routes({ to: '10.0.0.0/8', via: '198.18.0.5' })).toEqual(['unreachable-via /sandboxes/a/routes/0/via']);
    expect(found(routeVia, { sandboxes: { a: { routes: [{ to: 'default', via: '198.18.0.1' }] } } })).toEqual(['unreachable-via /sandboxes/a/routes/0/via']);
  });

  it('refuses mixed families, bad destinations and vias, and two routes to one destination', () => {
    expect(routes({ to: '10.0.0.0/8', via: '2001:db8::1' })).toEqual(['route-family /sandboxes/a/routes/0/via']);
    expect(routes({ to: '10.0.0.1/8', via: '198.18.0.1' })).toEqual(['bad-cidr /sandboxes/a/routes/0/to']);
    expect(routes({ to: 'internet', via: '198.18.0.1' })).toEqual(['bad-cidr /sandboxes/a/routes/0/to']);
    expect(routes({ to: 'default', via: 'gw' })).toEqual(['bad-address /sandboxes/a/routes/0/via']);
    expect(routes({ to: '10.0.0.0/8', via: '198.18.0.1' }, { to: '10.0.0.0/8', via: '198.18.0.2' })).toEqual(['duplicate-route /sandboxes/a/routes/1/to']);
    expect(routes({ to: 'default', via: '198.18.0.1' }, { to: 'default', via: '198.18.0.2' })).toEqual(['duplicate-route /sandboxes/a/routes/1/to']);
    expect(routes({ to: '10.1.2.3', via: '198.18.0.1' }, { to: '10.1.2.3/32', via: '198.18.0.1' })).toEqual(['duplicate-route /sandboxes/a/routes/1/to']);
  });

  it('waits for subnets picked at plan time, and for networks that failed the schema', () => {
    expect(found(routeVia, { networks: { n: bridge() }, sandboxes: { a: { ...sb(ep('n')), routes: [{ to: 'default', via: '172.17.0.1' }] } } })).toEqual([]);
    expect(
      found(routeVia, { networks: { n: { driver: 'bridg' } }, sandboxes: { a: { ...sb(ep('n')), routes: [{ to: 'default', via: '172.17.0.1' }] } } }, { schemaErrors: true }),
    ).toEqual([]);
  });
});

describe('kernelNames', () => {
  it('refuses two networks wanting one bridge name on a host, including a default name', () => {
    expect(found(kernelNames, { networks: { a: bridge('198.18.0.0/24', { bridge: 'br0' }), b: bridge('198.18.1.0/24', { bridge: 'br0' }) } })).toEqual([
      'duplicate-kernel-name /networks/b/bridge',
    ]);
    expect(found(kernelNames, { networks: { web: bridge('198.18.0.0/24'), b: bridge('198.18.1.0/24', { bridge: 'tsn-web' }) } })).toEqual([
      'duplicate-kernel-name /networks/b/bridge',
    ]);
  });

  it('allows one bridge name on two hosts', () => {
    const spec = {
      hosts: twoHosts,
      networks: { a: bridge('198.18.0.0/24', { bridge: 'br0' }), b: bridge('198.18.1.0/24', { bridge: 'br0' }) },
      sandboxes: { x: { host: 'h1', ...sb(ep('a')) }, y: { host: 'h2', ...sb(ep('b')) } },
    };
    expect(found(kernelNames, spec)).toEqual([]);
  });

  it('refuses two sandboxes wanting one namespace, by default name or explicitly, and a host\'s namespace', () => {
    expect(found(kernelNames, { sandboxes: { a: { netns: 'x' }, b: { netns: 'x' } } })).toEqual(['duplicate-kernel-name /sandboxes/b/netns']);
    expect(found(kernelNames, { sandboxes: { a: { netns: 't-b' }, b: {} } })).toEqual(['duplicate-kernel-name /sandboxes/b']);
    expect(found(kernelNames, { hosts: { h: { via: 'netns lab' } }, sandboxes: { a: { netns: 'lab' } } })).toEqual(['duplicate-kernel-name /sandboxes/a/netns']);
    expect(found(kernelNames, { sandboxes: { a: { netns: 'x' }, b: { mode: 'container:a' }, c: { mode: 'host' } } })).toEqual([]);
  });

  it('counts bytes, not characters, in names that reach it (the schema keeps most out)', () => {
    // Bypass the schema, as a looser schema would: nine two-byte characters are 18 bytes.
    const source = new SourceFile('t.yaml', stringify({ version: 1, name: 't', networks: { n: { driver: 'bridge' } }, sandboxes: { a: { endpoints: [{ network: 'n', name: 'ééééééééé' }] } } }));
    const p = prepare(source.toJS() as TopologyFile);
    expect(runRules(p, source, [kernelNames])).toMatchObject([{ code: 'kernel-name', path: '/sandboxes/a/endpoints/0/name', message: expect.stringContaining('18 bytes') }]);
  });

  it('does not repeat a name problem the schema reported', () => {
    expect(found(kernelNames, { networks: { n: bridge() }, sandboxes: { a: sb(ep('n', { name: 'x'.repeat(20) })) } }, { schemaErrors: true })).toEqual([]);
  });
});

describe('macAddresses', () => {
  const nets = { n: bridge(), m: bridge() };

  it('accepts distinct unicast MACs, and one MAC on two networks', () => {
    expect(found(macAddresses, { networks: nets, sandboxes: { a: sb(ep('n', { mac: '02:42:00:00:00:01' }), ep('m', { mac: '02:42:00:00:00:01' })) } })).toEqual([]);
  });

  it('refuses malformed and multicast MACs and one MAC twice on a network, in any case', () => {
    expect(found(macAddresses, { networks: nets, sandboxes: { a: sb(ep('n', { mac: '02:42' })) } })).toEqual(['bad-mac /sandboxes/a/endpoints/0/mac']);
    expect(found(macAddresses, { networks: nets, sandboxes: { a: sb(ep('n', { mac: '33:33:00:00:00:01' })) } })).toEqual(['bad-mac /sandboxes/a/endpoints/0/mac']);
    expect(
      found(macAddresses, { networks: nets, sandboxes: { a: sb(ep('n', { mac: '02:42:00:00:00:0a' })), b: sb(ep('n', { mac: '02:42:00:00:00:0A' })) } }),
    ).toEqual(['duplicate-mac /sandboxes/b/endpoints/0/mac']);
  });
});

describe('sysctlConflicts', () => {
  const net = { n: bridge() };
  const router = (sysctls: Record<string, unknown>) => ({ networks: net, sandboxes: { r: { ...sb(ep('n')), sysctls } } });

  it('accepts one name, or both names with one value (written either way)', () => {
    expect(found(sysctlConflicts, router({ 'net.ipv4.ip_forward': 1 }))).toEqual([]);
    expect(found(sysctlConflicts, router({ 'net.ipv4.ip_forward': true, 'net.ipv4.conf.all.forwarding': '1' }))).toEqual([]);
  });

  it('refuses the two names of one kernel value set to different values', () => {
    expect(found(sysctlConflicts, router({ 'net.ipv4.ip_forward': 1, 'net.ipv4.conf.all.forwarding': 0 }))).toEqual([
      'sysctl-conflict /sandboxes/r/sysctls/net.ipv4.conf.all.forwarding',
    ]);
  });
});

describe('RULES', () => {
  it('holds every rule once, and every driver adds its own', () => {
    const all = [
      hostAddresses, sandboxHost, networkSubnets, mtuRange,
      localScope, subnetOverlap, endpointNetwork, endpointAddresses, duplicateInterface, modeContents, containerTarget,
      routeVia, kernelNames, macAddresses, sysctlConflicts,
      sysctlKeys, sysctlValues, shapingValues, allowRules, portRules, dnsSettings, externalSandboxes,
      checkReferences,
    ];
    expect(new Set(RULES).size).toBe(RULES.length);
    expect([...RULES].sort()).toEqual([...all].sort());
    const drivers = DRIVERS.flatMap((d) => d.model.rules);
    expect(drivers).toEqual(expect.arrayContaining([macvlanParent, macvlanPassthru, overlayVni, overlayUnderlay]));
    expect([...allRules()].sort()).toEqual([...all, ...drivers].sort());
  });

  it('gives every diagnostic a position and a resource', () => {
    const source = new SourceFile('t.yaml', stringify({
      version: 1,
      name: 't',
      networks: { n: bridge('198.18.0.0/24', { mtu: 1 }), m: { driver: 'macvlan' } },
      sandboxes: { a: { ...sb(ep('x'), ep('n', { ip: '198.18.0.0', mac: '01:00:00:00:00:00' })), routes: [{ to: 'default', via: '10.0.0.1' }] }, b: { mode: 'container:b' } },
    }));
    const diags = runRules(prepare(source.toJS() as TopologyFile), source);
    expect(diags.length).toBeGreaterThanOrEqual(7);
    for (const d of diags) {
      expect(d.start, d.code).toBeDefined();
      expect(d.resource, d.code).toMatch(/^(network|sandbox|endpoint|route|host)\./);
    }
  });
});
