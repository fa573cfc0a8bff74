// checks: in the file: parsed (port, to), validated with file positions like every other rule,
// and carried into the normalized Topology.
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { loadText } from '../model/load.js';
import { parsePort, parseTarget } from './spec.js';

type Spec = Record<string, unknown>;

const base: Spec = {
  networks: { web: { driver: 'bridge', subnet: '198.18.0.0/24' }, back: { driver: 'bridge', subnet: ['198.18.1.0/24', '2001:db8:1::/64'] } },
  sandboxes: {
    app: { endpoints: [{ network: 'web' }] },
    db: { endpoints: [{ network: 'web' }, { network: 'back' }], routes: [{ to: '198.18.77.0/24', via: '198.18.1.1' }] },
    side: { mode: 'container:db' },
    iso: { mode: 'none' },
    iso2: { mode: 'container:iso' },
    mon: { mode: 'host' },
  },
};

const load = (checks: unknown[], extra: Spec = {}) => loadText('t.yaml', stringify({ version: 1, name: 't', ...base, ...extra, checks }));

/** "code line:col" of each error. */
const errorsAt = (checks: unknown[], extra: Spec = {}) =>
  load(checks, extra)
    .diagnostics.filter((d) => d.severity === 'error')
    .map((d) => `${d.code} ${d.start?.line}:${d.start?.col}`);

/** Line of check i (0-based) in the YAML stringify writes: checks come last, "- from: ..." first. */
const lineOf = (checks: unknown[], i: number, key: string, extra: Spec = {}) => {
  const text = stringify({ version: 1, name: 't', ...base, ...extra, checks });
  const lines = text.split('\n');
  let seen = -1;
  for (let n = lines.indexOf('checks:') + 1; n < lines.length; n++) {
    if (lines[n]!.startsWith('  - ')) seen++;
    if (seen === i && lines[n]!.includes(`${key}:`)) return `${n + 1}:${lines[n]!.indexOf(`${key}:`) + key.length + 3}`;
  }
  throw new Error(`no ${key} in check ${i}`);
};

describe('checks: validation', () => {
  it('a valid list gives no diagnostic and normalized checks', () => {
    const r = load([
      { from: 'app', to: 'db', port: 5432 },
      { from: 'app', to: 'db.eth1', port: '53/udp', expect: 'blocked' },
      { from: 'side', to: '198.18.0.1' },
      { from: 'iso', to: 'app', expect: 'blocked' },
      { from: 'mon', to: '2001:db8:1::5', port: '80/tcp' },
      { from: 'app', to: 'side' },
    ]);
    expect(r.diagnostics).toEqual([]);
    expect(r.topology!.checks).toEqual([
      { index: 0, from: 'app', to: { kind: 'sandbox', sandbox: 'db' }, toText: 'db', port: { number: 5432, proto: 'tcp' }, expect: 'reach' },
      { index: 1, from: 'app', to: { kind: 'endpoint', sandbox: 'db', ifname: 'eth1' }, toText: 'db.eth1', port: { number: 53, proto: 'udp' }, expect: 'blocked' },
      { index: 2, from: 'side', to: { kind: 'address', address: '198.18.0.1', family: 4 }, toText: '198.18.0.1', expect: 'reach' },
      { index: 3, from: 'iso', to: { kind: 'sandbox', sandbox: 'app' }, toText: 'app', expect: 'blocked' },
      { index: 4, from: 'mon', to: { kind: 'address', address: '2001:db8:1::5', family: 6 }, toText: '2001:db8:1::5', port: { number: 80, proto: 'tcp' }, expect: 'reach' },
      { index: 5, from: 'app', to: { kind: 'sandbox', sandbox: 'side' }, toText: 'side', expect: 'reach' },
    ]);
  });

  it('no checks: an empty list in the topology', () => {
    const r = loadText('t.yaml', stringify({ version: 1, name: 't', ...base }));
    expect(r.topology!.checks).toEqual([]);
  });

  it('unknown sandboxes in from and to, with the nearest name, at their line and column', () => {
    const checks = [{ from: 'ap', to: 'db' }, { from: 'app', to: 'dbb', port: 1 }, { from: 'zzzzzz', to: 'app' }];
    expect(errorsAt(checks)).toEqual([`unknown-sandbox ${lineOf(checks, 0, 'from')}`, `unknown-sandbox ${lineOf(checks, 1, 'to')}`, `unknown-sandbox ${lineOf(checks, 2, 'from')}`]);
    const [first, second, third] = load(checks).diagnostics;
    expect(first!.message).toBe('check 1: no sandbox "ap" in the file');
    expect(first!.hint).toBe('did you mean "app"?');
    expect(first!.resource).toBe('check.1');
    expect(first!.path).toBe('/checks/0/from');
    expect(second!.hint).toBe('did you mean "db"?');
    expect(third!.hint).toBe('its sandboxes: app, db, side, iso, iso2, mon');
  });

  it('port 0, 70000 and a protocol that is not tcp or udp are errors at the port', () => {
    const checks = [{ from: 'app', to: 'db', port: 0 }, { from: 'app', to: 'db', port: 70000 }, { from: 'app', to: 'db', port: '53/sctp' }, { from: 'app', to: 'db', port: '65535/udp' }];
    expect(errorsAt(checks)).toEqual([`bad-port ${lineOf(checks, 0, 'port')}`, `bad-port ${lineOf(checks, 1, 'port')}`, `bad-port ${lineOf(checks, 2, 'port')}`]);
    expect(load(checks).diagnostics.map((d) => d.message)).toEqual([
      'check 1: port 0 is outside 1..65535',
      'check 2: port 70000 is outside 1..65535',
      'check 3: port "53/sctp" is not a port: write 5432, "5432/tcp" or "53/udp"',
    ]);
  });

  it('from a none sandbox (or one sharing its namespace) expecting reach is an error; expecting blocked is fine', () => {
    const checks = [{ from: 'iso', to: 'app' }, { from: 'iso2', to: 'app', expect: 'reach' }, { from: 'iso', to: 'app', expect: 'blocked' }];
    expect(errorsAt(checks)).toEqual([`check-from-none ${lineOf(checks, 0, 'from')}`, `check-from-none ${lineOf(checks, 1, 'from')}`]);
    expect(load(checks).diagnostics[0]!.hint).toBe('expect: blocked, or check from another sandbox');
  });

  it('to: db.eth9, an endpoint db lacks, names the ones it has', () => {
    const checks = [{ from: 'app', to: 'db.eth9' }, { from: 'app', to: 'side.eth1' }, { from: 'app', to: 'app.lo' }];
    expect(errorsAt(checks)).toEqual([`unknown-endpoint ${lineOf(checks, 0, 'to')}`, `unknown-endpoint ${lineOf(checks, 2, 'to')}`]);
    const [d9, dlo] = load(checks).diagnostics;
    expect(d9!.message).toBe('check 1: sandbox "db" has no endpoint "eth9"');
    expect(d9!.hint).toBe('did you mean "db.eth0"?');
    expect(dlo!.hint).toBe('its endpoints: eth0');
  });

  it('a sandbox without addresses (none, host, no endpoints) cannot be probed', () => {
    const checks = [{ from: 'app', to: 'iso', expect: 'blocked' }, { from: 'app', to: 'mon' }, { from: 'app', to: 'lone' }];
    const extra = { sandboxes: { ...(base.sandboxes as Spec), lone: {} } };
    expect(errorsAt(checks, extra)).toEqual([`check-no-address ${lineOf(checks, 0, 'to', extra)}`, `check-no-address ${lineOf(checks, 1, 'to', extra)}`, `check-no-address ${lineOf(checks, 2, 'to', extra)}`]);
    expect(load(checks, extra).diagnostics.map((d) => d.message)).toEqual([
      'check 1: sandbox "iso" has mode "none", so it has no address to probe',
      'check 2: sandbox "mon" has mode "host", so it has no address to probe',
      'check 3: sandbox "lone" has no endpoints, so it has no address to probe',
    ]);
  });

  it('addresses: inside a subnet, a route\'s destination or an underlay are the topology\'s own; anything else is refused', () => {
    const ok = [{ from: 'app', to: '198.18.0.200' }, { from: 'db', to: '198.18.77.9' }, { from: 'app', to: '2001:db8:1::ffff' }];
    expect(errorsAt(ok)).toEqual([]);
    const outside = [{ from: 'app', to: '198.18.40.10' }, { from: 'app', to: '2001:db8:2::1' }, { from: 'app', to: '8.8.8.8' }];
    expect(errorsAt(outside)).toEqual(outside.map((_, i) => `check-address-outside ${lineOf(outside, i, 'to')}`));
    const hosts = { hosts: { h1: { via: 'local', underlay: '198.19.0.1' } }, sandboxes: Object.fromEntries(Object.entries(base.sandboxes as Spec).map(([k, v]) => [k, { ...(v as Spec), host: 'h1' }])) };
    expect(errorsAt([{ from: 'app', to: '198.19.0.1' }], hosts)).toEqual([]);
    expect(errorsAt([{ from: 'app', to: '198.19.0.2' }], hosts)).toEqual([`check-address-outside ${lineOf([{ from: 'app', to: '198.19.0.2' }], 0, 'to', hosts)}`]);
  });

  it('a network whose subnet tsnet picks: an address in Docker\'s pools is accepted (it cannot be told before the plan)', () => {
    const extra = { networks: { auto: { driver: 'bridge' } }, sandboxes: { a: { endpoints: [{ network: 'auto' }] }, b: { endpoints: [{ network: 'auto' }] } } };
    expect(errorsAt([{ from: 'a', to: '172.17.0.3' }], extra)).toEqual([]);
    expect(errorsAt([{ from: 'a', to: '198.18.0.3' }], extra)).toHaveLength(1);
  });

  it('a malformed to: a subnet, or a broken address', () => {
    const checks = [{ from: 'app', to: '198.18.0.0/24' }, { from: 'app', to: '198.18.0' }, { from: 'app', to: '2001:db8::zz' }];
    expect(load(checks).diagnostics.map((d) => `${d.code}: ${d.message}`)).toEqual([
      'bad-check-target: check 1: "198.18.0.0/24" is a subnet: name one address of it',
      'bad-check-target: check 2: "198.18.0" is not an IP address',
      'bad-check-target: check 3: "2001:db8::zz" is not an IP address',
    ]);
  });

  it('schema errors in an entry (a missing to, an unknown key, expect: maybe) are the schema\'s alone', () => {
    const r = load([{ from: 'nobody' }, { from: 'app', to: 'db', expekt: 'reach' }, { from: 'nobody', to: 'db', expect: 'maybe' }]);
    expect(r.diagnostics.map((d) => `${d.code} ${d.path}`)).toEqual(['missing-key /checks/0', 'unknown-key /checks/1/expekt', 'bad-value /checks/2/expect']);
    expect(r.diagnostics[1]!.hint).toBe('did you mean "expect"?');
  });
});

describe('parsePort and parseTarget', () => {
  it('ports', () => {
    expect(parsePort(5432)).toEqual({ ok: true, value: { number: 5432, proto: 'tcp' } });
    expect(parsePort('5432/TCP')).toEqual({ ok: true, value: { number: 5432, proto: 'tcp' } });
    expect(parsePort('53/udp')).toEqual({ ok: true, value: { number: 53, proto: 'udp' } });
    expect(parsePort('1')).toEqual({ ok: true, value: { number: 1, proto: 'tcp' } });
    for (const bad of [0, -1, 65536, 1.5, '', 'http', '53/', '/udp', '0/udp']) expect(parsePort(bad).ok, String(bad)).toBe(false);
  });

  it('targets: an address, sandbox.ifname (interface names may hold dots), or a sandbox', () => {
    expect(parseTarget('198.18.0.5')).toEqual({ ok: true, value: { kind: 'address', address: '198.18.0.5', family: 4 } });
    expect(parseTarget('2001:db8::5')).toEqual({ ok: true, value: { kind: 'address', address: '2001:db8::5', family: 6 } });
    expect(parseTarget('db.eth0.100')).toEqual({ ok: true, value: { kind: 'endpoint', sandbox: 'db', ifname: 'eth0.100' } });
    expect(parseTarget('db')).toEqual({ ok: true, value: { kind: 'sandbox', sandbox: 'db' } });
    expect(parseTarget('10').ok).toBe(false);
  });
});
