import { describe, expect, it } from 'vitest';
import { IFNAMSIZ, bridgeName, fitName, hostVethName, kernelNameProblem, netnsName, stableHash, vxlanName } from './names.js';

const bytes = (s: string) => Buffer.byteLength(s);

describe('fitName', () => {
  it('keeps names that fit', () => {
    expect(fitName('tsn-', 'web')).toBe('tsn-web');
    expect(fitName('tsn-', 'abcdefghijk')).toBe('tsn-abcdefghijk'); // exactly 15
  });

  it('shortens longer names to 15 bytes with a hash of the whole name', () => {
    const name = fitName('tsn-', 'a-very-long-network-name');
    expect(bytes(name)).toBeLessThanOrEqual(IFNAMSIZ);
    expect(name).toBe(`tsn-a-very-${stableHash(['a-very-long-network-name'], 4)}`);
  });

  it('is stable: the same input gives the same name', () => {
    expect(fitName('tsn-', 'a-very-long-network-name')).toBe(fitName('tsn-', 'a-very-long-network-name'));
    expect(bridgeName('backend-services')).toBe(bridgeName('backend-services'));
  });

  it('keeps distinct long names distinct, even with a common start', () => {
    const names = ['frontend-network-1', 'frontend-network-2', 'frontend-network-3', 'frontend-networks'].map((n) => bridgeName(n));
    expect(new Set(names).size).toBe(names.length);
    for (const n of names) expect(bytes(n)).toBeLessThanOrEqual(IFNAMSIZ);
  });

  it('counts bytes, not characters, and never cuts a name into invalid UTF-8', () => {
    for (const base of ['ééééééééé', 'net-🙂🙂🙂🙂', 'abc🙂xyzuvw']) {
      const name = fitName('tsn-', base);
      expect(bytes(name), name).toBeLessThanOrEqual(IFNAMSIZ);
      expect(Buffer.from(name).toString('utf8')).toBe(name);
      expect(name).not.toMatch(/[\ud800-\udfff](?![\udc00-\udfff])/u);
      expect(kernelNameProblem(name)).toBeUndefined();
    }
    // Cutting UTF-16 units would leave half of the emoji (a lone surrogate, 3 bytes) and fit.
    expect(fitName('tsn-', 'abc🙂xyzuvw')).toBe(`tsn-abc-${stableHash(['abc🙂xyzuvw'], 4)}`);
  });

  it('does not leave a separator before the hash doubled', () => {
    expect(fitName('tsn-', 'abcdefg-hijklmnop')).not.toMatch(/--/);
  });
});

describe('default kernel names', () => {
  it('derive bridge, VXLAN and namespace names from the network and topology', () => {
    expect(bridgeName('web')).toBe('tsn-web');
    expect(vxlanName('tenant')).toBe('tsx-tenant');
    expect(netnsName('lab', 'web')).toBe('lab-web');
  });

  it('give host-side veth ends a fixed-length hash distinct per topology, sandbox and interface', () => {
    const a = hostVethName('lab', 'web', 'eth0');
    expect(a).toMatch(/^tsv[0-9a-f]{8}$/);
    expect(a).toBe(hostVethName('lab', 'web', 'eth0'));
    expect(hostVethName('lab2', 'web', 'eth0')).not.toBe(a);
    expect(hostVethName('lab', 'web', 'eth1')).not.toBe(a);
    // The parts are separated, so moving a character between them changes the name.
    expect(hostVethName('la', 'bweb', 'eth0')).not.toBe(a);
  });
});

describe('kernelNameProblem', () => {
  it('accepts names the kernel takes', () => {
    for (const ok of ['eth0', 'br-web', 'a', 'x'.repeat(15), 'v@l+i_d.n-ame']) expect(kernelNameProblem(ok), ok).toBeUndefined();
  });

  it('refuses empty, dot names, separators and whitespace', () => {
    expect(kernelNameProblem('')).toMatch(/empty/);
    expect(kernelNameProblem('.')).toMatch(/"\."/);
    expect(kernelNameProblem('..')).toMatch(/"\."/);
    expect(kernelNameProblem('a/b')).toMatch(/"\/"/);
    expect(kernelNameProblem('a:b')).toMatch(/":"/);
    expect(kernelNameProblem('a b')).toMatch(/whitespace/);
  });

  it('refuses "all" and "default", which the kernel keeps for its settings; ip keywords are fine (they go after their keyword)', () => {
    expect(kernelNameProblem('all')).toMatch(/net\.ipv4\.conf\.all/);
    expect(kernelNameProblem('default')).toMatch(/net\.ipv4\.conf\.default/);
    for (const ok of ['up', 'down', 'dev', 'name', 'help', 'nomaster', 'master', 'type', 'link', '-h', '--help', 'allx']) expect(kernelNameProblem(ok), ok).toBeUndefined();
  });

  it('counts bytes: 16 ASCII characters, or 9 two-byte characters, are too long', () => {
    expect(kernelNameProblem('x'.repeat(16))).toMatch(/16 bytes/);
    expect('ééééééééé'.length).toBeLessThanOrEqual(15);
    expect(kernelNameProblem('ééééééééé')).toMatch(/18 bytes/);
  });
});
