// The file side of issue 15: port forms, the rules (codes, positions) and what a topology's
// firewall expands into (the rules' text as nft prints it; the kernel test checks nft agrees).
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { hostSide, parsePublish, sameHostSide, type Publish } from './firewall.js';
import { loadText } from './load.js';
import { expandFirewall, type FirewallSpec } from '../appliers/firewall.js';

const ok = (text: string): Publish => {
  const p = parsePublish(text);
  if (!p.ok) throw new Error(p.message);
  return p.value;
};
const bad = (text: string): string => {
  const p = parsePublish(text);
  if (p.ok) throw new Error(`${text} parsed`);
  return p.message;
};

describe('parsePublish', () => {
  it('reads Docker\'s forms', () => {
    expect(ok('8080:80')).toEqual({ hostPort: 8080, port: 80, proto: 'tcp' });
    expect(ok('127.0.0.1:5353:53/udp')).toEqual({ hostIp: '127.0.0.1', family: 4, hostPort: 5353, port: 53, proto: 'udp' });
    expect(ok('[2001:DB8::1]:8443:443/tcp')).toEqual({ hostIp: '2001:db8::1', family: 6, hostPort: 8443, port: 443, proto: 'tcp' });
    expect(ok('0.0.0.0:80:80')).toEqual({ family: 4, wildcard: true, hostPort: 80, port: 80, proto: 'tcp' });
    expect(ok('[::]:80:80/UDP')).toEqual({ family: 6, wildcard: true, hostPort: 80, port: 80, proto: 'udp' });
  });

  it('refuses what it cannot publish, saying why', () => {
    expect(bad('80')).toMatch(/names no host port/);
    expect(bad('8000-8010:80')).toMatch(/ranges are not supported/);
    expect(bad('0:80')).toMatch(/host port "0" is not a port/);
    expect(bad('8080:65536')).toMatch(/port "65536" is not a port/);
    expect(bad('8080:80/sctp')).toMatch(/"sctp" is not tcp or udp/);
    expect(bad('::1:8080:80')).toMatch(/not a published port|not a host address/);
    expect(bad('[127.0.0.1]:8080:80')).toMatch(/not a host address/);
    expect(bad('web:8080:80')).toMatch(/not a host address/);
  });

  it('names the host side', () => {
    expect(hostSide(ok('8080:80'))).toBe('8080/tcp');
    expect(hostSide(ok('127.0.0.1:5353:53/udp'))).toBe('127.0.0.1:5353/udp');
    expect(hostSide(ok('[2001:db8::1]:8443:443'))).toBe('[2001:db8::1]:8443/tcp');
    expect(hostSide(ok('[::]:80:80'))).toBe('[::]:80/tcp');
  });

  it('knows which host sides one packet could match', () => {
    const same = (a: string, b: string) => sameHostSide(ok(a), ok(b));
    expect(same('8080:80', '8080:81')).toBe(true);
    expect(same('8080:80', '8080:80/udp')).toBe(false);
    expect(same('8080:80', '198.18.0.1:8080:80')).toBe(true);
    // The wildcard leaves loopback out: 127.0.0.1 is published only when asked.
    expect(same('8080:80', '127.0.0.1:8080:80')).toBe(false);
    expect(same('0.0.0.0:8080:80', '[::]:8080:80')).toBe(false);
    expect(same('0.0.0.0:8080:80', '8080:80')).toBe(true);
    expect(same('198.18.0.1:8080:80', '198.18.0.2:8080:80')).toBe(false);
  });
});

type Doc = Record<string, unknown>;
const base = (extra: Doc = {}, nets: Doc = {}, sandboxes: Doc = {}): Doc => ({
  version: 1,
  name: 'fw',
  networks: { front: { driver: 'bridge', subnet: '198.18.80.0/24' }, back: { driver: 'bridge', subnet: '198.18.81.0/24' }, ...nets },
  sandboxes: { web: { endpoints: [{ network: 'front' }] }, db: { endpoints: [{ network: 'back' }] }, ...sandboxes },
  ...extra,
});

const load = (doc: Doc) => loadText('fw.yaml', stringify(doc));
/** code line:col of each diagnostic. */
const diags = (doc: Doc) => load(doc).diagnostics.map((d) => `${d.severity} ${d.code} ${d.start ? `${d.start.line}:${d.start.col}` : '-'}`);

describe('firewall rules', () => {
  it('accepts the example\'s shape', () => {
    expect(diags(base({ isolation: true, allow: [{ from: 'web', to: 'db', port: '5432/tcp' }] }, {}, { web: { endpoints: [{ network: 'front' }], ports: ['8080:80'] } }))).toEqual([]);
  });

  it('refuses nat on an internal network, at nat:', () => {
    expect(diags(base({}, { back: { driver: 'bridge', subnet: '198.18.81.0/24', internal: true, nat: true } }))).toEqual(['error nat-internal 11:10']);
  });

  it('refuses allow names that are unknown, ambiguous or not routed, at from:/to:', () => {
    const d = base(
      { isolation: true, allow: [{ from: 'wbe', to: 'db' }, { from: 'front', to: 'mv' }, { from: 'web', to: 'both' }] },
      { mv: { driver: 'macvlan', parent: 'eth0', subnet: '198.18.90.0/24' }, both: { driver: 'bridge', subnet: '198.18.82.0/24' } },
      { both: { endpoints: [{ network: 'both' }] } },
    );
    const r = load(d).diagnostics;
    expect(r.map((x) => `${x.code} ${x.path}`)).toEqual(['unknown-name /allow/0/from', 'allow-not-routed /allow/1/to', 'ambiguous-name /allow/2/to']);
    expect(r[0]!.hint).toBe('did you mean "web"?');
  });

  it('refuses an allow inside one network, a repeated one and a bad port; warns when nothing drops the traffic', () => {
    const r = load(base({ allow: [{ from: 'web', to: 'front' }, { from: 'web', to: 'db', port: 'x' }, { from: 'front', to: 'back' }, { from: 'front', to: 'back' }] })).diagnostics;
    expect(r.map((x) => `${x.severity} ${x.code} ${x.path}`)).toEqual([
      'error allow-same-network /allow/0',
      'warning allow-without-effect /allow/1',
      'error bad-port /allow/1/port',
      'warning allow-without-effect /allow/2',
      'warning allow-without-effect /allow/3',
      'error duplicate-allow /allow/3',
    ]);
  });

  it('refuses bad port forms, at the entry', () => {
    const r = load(base({}, {}, { web: { endpoints: [{ network: 'front' }], ports: ['8080:80', '80', '1-2:3'] } })).diagnostics;
    expect(r.map((x) => `${x.code} ${x.path} ${x.start?.line}:${x.start?.col}`)).toEqual(['bad-port /sandboxes/web/ports/1 16:9', 'bad-port /sandboxes/web/ports/2 17:9']);
  });

  it('refuses one host port published twice, naming the other sandbox', () => {
    const r = load(base({}, {}, { web: { endpoints: [{ network: 'front' }], ports: ['8080:80'] }, db: { endpoints: [{ network: 'back' }], ports: ['198.18.80.1:8080:5432'] } })).diagnostics;
    expect(r.map((x) => `${x.code} ${x.path}`)).toEqual(['port-conflict /sandboxes/db/ports/0']);
    expect(r[0]!.message).toBe('host port 198.18.80.1:8080/tcp ("198.18.80.1:8080:5432") is taken twice: sandbox "web" publishes it too ("8080:80")');
  });

  it('refuses ports without a bridge endpoint, on an internal network, on [::1], or of a family the network lacks', () => {
    const r = load(
      base(
        {},
        { back: { driver: 'bridge', subnet: '198.18.81.0/24', internal: true }, l2: { driver: 'bridge', subnet: '198.18.83.0/24', gateway: 'none' } },
        {
          web: { endpoints: [{ network: 'front' }], ports: ['[::1]:8443:443', '[2001:db8::1]:8443:443'] },
          db: { endpoints: [{ network: 'back' }], ports: ['5432:5432'] },
          sw: { endpoints: [{ network: 'l2' }], ports: ['80:80'] },
          none: { mode: 'none', ports: ['81:80'] },
        },
      ),
    ).diagnostics;
    expect(r.map((x) => `${x.code} ${x.path}`)).toEqual([
      'ipv6-loopback-port /sandboxes/web/ports/0',
      'port-family /sandboxes/web/ports/1',
      'ports-internal /sandboxes/db/ports',
      'ports-without-bridge /sandboxes/sw/ports',
      'ports-without-bridge /sandboxes/none/ports',
    ]);
  });
});

const specOf = (doc: Doc): FirewallSpec => {
  const t = load(doc).topology;
  if (!t) throw new Error('invalid');
  const [spec] = expandFirewall(t);
  return spec as FirewallSpec;
};
const rulesOf = (spec: FirewallSpec) => spec.rules.map((r) => `${r.chain}: ${r.text} # ${r.address}`);

describe('expandFirewall', () => {
  it('makes nothing for a file that asks for nothing', () => {
    const t = load(base()).topology!;
    expect(t.firewall).toBeUndefined();
    expect(expandFirewall(t)).toEqual([]);
  });

  it('isolates each pair of networks, both ways, and lets an allow through where it would be dropped', () => {
    const spec = specOf(base({ isolation: true, allow: [{ from: 'web', to: 'back', port: 5432 }] }, { back: { driver: 'bridge', subnet: '198.18.81.0/24', internal: true } }));
    expect(rulesOf(spec)).toEqual([
      'isolation-front: iifname "tsn-front" oifname "tsn-back" ct state != { established, related } drop # isolation.front.back',
      'isolation-back: iifname "tsn-back" oifname "tsn-front" ct state != { established, related } drop # isolation.back.front',
      'internal-back: iifname "tsn-back" oifname != "tsn-back" ct state != { established, related } drop # internal.back',
      'internal-back: oifname "tsn-back" iifname != "tsn-back" ct state != { established, related } drop # internal.back',
      'isolation-front: iifname "tsn-front" oifname "tsn-back" ip saddr 198.18.80.2 tcp dport 5432 accept # allow.web.back.5432/tcp',
      'internal-back: iifname "tsn-front" oifname "tsn-back" ip saddr 198.18.80.2 tcp dport 5432 accept # allow.web.back.5432/tcp',
    ]);
    expect(spec.items.map((i) => `${i.address}  ${i.summary}`)).toContain('isolation.front.back  front -/-> back: drop what the host forwards from tsn-front to tsn-back');
  });

  it('publishes on every address of both families, on one address, and on 127.0.0.1 (with route_localnet)', () => {
    const spec = specOf(
      base({}, { front: { driver: 'bridge', subnet: ['198.18.80.0/24', '2001:db8:80::/64'] } }, { web: { endpoints: [{ network: 'front' }], ports: ['8080:80', '198.18.80.1:8081:81/udp', '127.0.0.1:8082:82'] } }),
    );
    expect(rulesOf(spec)).toEqual([
      'dnat-front: fib daddr type local ip daddr != 127.0.0.0/8 tcp dport 8080 dnat ip to 198.18.80.2:80 # port.web.8080/tcp',
      'hostdnat-front: fib daddr type local ip daddr != 127.0.0.0/8 tcp dport 8080 dnat ip to 198.18.80.2:80 # port.web.8080/tcp',
      'dnat-front: fib daddr type local ip6 daddr != ::1 tcp dport 8080 dnat ip6 to [2001:db8:80::2]:80 # port.web.8080/tcp',
      'hostdnat-front: fib daddr type local ip6 daddr != ::1 tcp dport 8080 dnat ip6 to [2001:db8:80::2]:80 # port.web.8080/tcp',
      'dnat-front: ip daddr 198.18.80.1 udp dport 8081 dnat ip to 198.18.80.2:81 # port.web.198.18.80.1:8081/udp',
      'hostdnat-front: ip daddr 198.18.80.1 udp dport 8081 dnat ip to 198.18.80.2:81 # port.web.198.18.80.1:8081/udp',
      'hostdnat-front: ip daddr 127.0.0.1 tcp dport 8082 dnat ip to 198.18.80.2:82 # port.web.127.0.0.1:8082/tcp',
      'hairpin-front: iifname "tsn-front" oifname "tsn-front" ct status dnat masquerade # hairpin.front',
      // web reaching its own port, once per address (several ports share it).
      'hairpin-front: oifname "tsn-front" ip saddr 198.18.80.2 ip daddr 198.18.80.2 ct status dnat masquerade # hairpin.front',
      'hairpin-front: oifname "tsn-front" ip6 saddr 2001:db8:80::2 ip6 daddr 2001:db8:80::2 ct status dnat masquerade # hairpin.front',
      'hairpin-front: oifname "tsn-front" ip saddr 127.0.0.0/8 masquerade # hairpin.front',
    ]);
    expect(spec.localnet).toEqual([{ network: 'front', bridge: 'tsn-front' }]);
  });
});
