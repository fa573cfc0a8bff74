import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { checkSchema, suggestKey } from './schema-check.js';
import { SourceFile } from './source.js';

function check(data: Record<string, unknown>, text = stringify({ version: 1, name: 't', ...data })) {
  const source = new SourceFile('t.yaml', text);
  expect(source.syntax).toEqual([]);
  return checkSchema(source, source.toJS());
}

const one = (data: Record<string, unknown>) => {
  const { diagnostics } = check(data);
  expect(diagnostics, JSON.stringify(diagnostics)).toHaveLength(1);
  return diagnostics[0]!;
};

describe('checkSchema', () => {
  it('accepts a valid file without diagnostics', () => {
    expect(check({ networks: { web: { driver: 'bridge', subnet: '198.18.0.0/24' } }, sandboxes: { a: { endpoints: [{ network: 'web' }] } } })).toEqual({
      diagnostics: [],
      brokenPaths: [],
    });
  });

  it('reports an unknown key at the key, with the nearest known key', () => {
    const d = one({ networks: { web: { driver: 'bridge', subnt: '198.18.0.0/24' } } });
    expect(d).toMatchObject({ code: 'unknown-key', path: '/networks/web/subnt', hint: 'did you mean "subnet"?', start: { line: 6, col: 5 } });
    expect(d.message).toBe('unknown key "subnt" in network "web"');
  });

  it('lists the known keys when nothing is near', () => {
    expect(one({ colour: 'blue' }).hint).toBe('known keys: version, name, hosts, networks, sandboxes, isolation, allow, checks');
  });

  it('names a required key written with a trailing space at its own line, not as a missing key of its object', () => {
    const text = 'version: 1\nname: t\nnetworks:\n  web:\n    subnet: 198.18.0.0/24\n    "driver ": bridge\n';
    const { diagnostics } = check({}, text);
    expect(diagnostics).toEqual([
      expect.objectContaining({
        code: 'unknown-key',
        message: 'unknown key "driver " in network "web"',
        path: '/networks/web/driver ',
        start: { line: 6, col: 5 },
        hint: 'did you mean "driver"? (the key has a trailing space)',
      }),
    ]);
  });

  it('says when spaces are all that tell an unknown key from a known one', () => {
    const spaced = (key: string) => one({ networks: { web: { driver: 'bridge', [key]: '198.18.0.0/24' } } });
    expect(spaced('subnet ').hint).toBe('did you mean "subnet"? (the key has a trailing space)');
    expect(spaced(' subnet').hint).toBe('did you mean "subnet"? (the key has a leading space)');
    expect(spaced('  subnet  ').hint).toBe('did you mean "subnet"? (the key has 2 leading spaces and 2 trailing spaces)');
    // An endpoint's required key: reported once, at the key.
    const d = one({ networks: { n: { driver: 'bridge' } }, sandboxes: { a: { endpoints: [{ 'network ': 'n' }] } } });
    expect(d).toMatchObject({ code: 'unknown-key', path: '/sandboxes/a/endpoints/0/network ', hint: 'did you mean "network"? (the key has a trailing space)' });
  });

  it('reports a missing key at the object that lacks it, once (not again as a discriminator error)', () => {
    const d = one({ networks: { web: { subnet: '198.18.0.0/24' } } });
    expect(d).toMatchObject({ code: 'missing-key', message: 'network "web" needs "driver"', start: { line: 4, col: 3 } });
  });

  it('says what type was expected, in YAML words, and names the object', () => {
    expect(one({ networks: [] }).message).toBe('"networks" must be a mapping, not a list');
    expect(one({ networks: { web: 5 } }).message).toBe('network "web" must be a mapping, not a number');
    expect(one({ networks: { web: { driver: 'bridge', mtu: 'big' } } }).message).toBe('"mtu" in network "web" must be a whole number, not a string');
    expect(one({ networks: { web: { driver: 'overlay', vni: 1.5 } } }).message).toBe('"vni" in network "web" must be a whole number, not a fraction');
    expect(one({ sandboxes: { a: { endpoints: [7] } } }).message).toBe('endpoint 1 of sandbox "a" must be a mapping, not a number');
    expect(one({ sandboxes: { a: { sysctls: [] } } }).message).toBe('the sysctls of sandbox "a" must be a mapping, not a list');
    expect(one({ sandboxes: { a: null } })).toMatchObject({ message: 'sandbox "a" must be a mapping, not empty', hint: 'write "{}" for an empty mapping' });
  });

  it('explains string-or-list fields item by item', () => {
    expect(one({ networks: { web: { driver: 'bridge', subnet: 5 } } }).message).toBe(
      '"subnet" in network "web" must be a string or a list of strings, not a number',
    );
    expect(one({ networks: { web: { driver: 'bridge', subnet: [] } } }).message).toBe('"subnet" in network "web" must not be an empty list');
    const d = one({ networks: { web: { driver: 'bridge', subnet: ['198.18.0.0/24', 6] } } });
    expect(d).toMatchObject({ message: 'item 2 of "subnet" in network "web" must be a string, not a number', path: '/networks/web/subnet/1' });
  });

  it('says the file itself must be a mapping', () => {
    const source = new SourceFile('t.yaml', '- a\n- b\n');
    expect(checkSchema(source, source.toJS()).diagnostics).toMatchObject([{ code: 'bad-type', start: { line: 1, col: 1 } }]);
  });

  it('gives codes of their own to versions, names, vias, modes, drivers, sysctls and kernel names', () => {
    expect(check({ version: 2 }).diagnostics.map((d) => d.code)).toEqual(['bad-version']);
    expect(one({ name: 'Lab' }).code).toBe('bad-topology-name');
    expect(one({ sandboxes: { 'a.b': {} } })).toMatchObject({ code: 'bad-name', path: '/sandboxes/a.b' });
    expect(one({ hosts: { h: { via: 'telnet h' } } }).code).toBe('bad-via');
    expect(one({ sandboxes: { a: { mode: 'bridge' } } }).code).toBe('bad-mode');
    expect(one({ sandboxes: { a: { sysctls: { 'kernel.x': 1 } } } })).toMatchObject({ code: 'bad-sysctl', path: '/sandboxes/a/sysctls/kernel.x' });
    expect(one({ sandboxes: { a: { sysctls: { 'net.x': 'a\nb' } } } }).code).toBe('bad-value');
    expect(one({ sandboxes: { a: { netns: 'a/b' } } }).code).toBe('kernel-name');
    expect(one({ sandboxes: { a: { endpoints: [{ network: 'n', name: 'x'.repeat(16) }] } } }).code).toBe('kernel-name');
    expect(one({ networks: { n: { driver: 'bridg' } } })).toMatchObject({ code: 'unknown-driver', hint: 'did you mean "bridge"?' });
    expect(one({ networks: { n: { driver: 'macvlan', mode: 'vepaa' } } })).toMatchObject({ code: 'bad-value', hint: expect.stringContaining('did you mean "vepa"?') });
  });

  it('returns the JSON pointers of what failed, for prepare() to leave out', () => {
    const { brokenPaths } = check({ networks: { web: { driver: 'bridge', subnt: 'x' } }, sandboxes: { a: { endpoints: 5 } } });
    expect(brokenPaths.sort()).toEqual(['/networks/web', '/sandboxes/a/endpoints']);
  });
});

describe('suggestKey', () => {
  const endpointKeys = ['network', 'name', 'ip', 'mac', 'mtu'];

  it('suggests near spellings', () => {
    expect(suggestKey('netwrok', endpointKeys)).toBe('network');
    expect(suggestKey('nmae', endpointKeys)).toBe('name');
  });

  it('maps keys people bring from elsewhere to tsnet\'s', () => {
    expect(suggestKey('address', endpointKeys)).toBe('ip');
    expect(suggestKey('adress', endpointKeys)).toBe('ip');
    expect(suggestKey('ipv4_address', endpointKeys)).toBe('ip');
    expect(suggestKey('interface', endpointKeys)).toBe('name');
    expect(suggestKey('type', ['driver', 'subnet'])).toBe('driver');
  });

  it('suggests a habit only where its key exists', () => {
    expect(suggestKey('type', endpointKeys)).toBeUndefined();
    expect(suggestKey('colour', endpointKeys)).toBeUndefined();
  });
});
