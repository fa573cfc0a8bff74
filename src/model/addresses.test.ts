import { describe, expect, it } from 'vitest';
import {
  broadcastAddress,
  canonicalIp,
  containsCidr,
  dockerDefaultPools,
  firstHost,
  formatCidr,
  formatIp,
  hasHostBits,
  lowestFree,
  macFromIp,
  macProblem,
  networkAddress,
  overlaps,
  parseCidr,
  parseIp,
  subnetRouterAnycast,
  type Cidr,
} from './addresses.js';

const cidr = (text: string): Cidr => {
  const c = parseCidr(text, true);
  if (!c) throw new Error(`not a CIDR: ${text}`);
  return c;
};
const ip = (text: string): bigint => {
  const v = parseIp(text);
  if (!v) throw new Error(`not an address: ${text}`);
  return v.value;
};
const free = (pool: string, subnet: string, taken: string[] = []) => {
  const p = cidr(pool);
  const v = lowestFree(p, cidr(subnet), new Set(taken.map(ip)));
  return v === undefined ? undefined : formatIp(p.family, v);
};

describe('parseIp', () => {
  it('reads IPv4 and IPv6 addresses', () => {
    expect(parseIp('198.18.0.5')).toEqual({ family: 4, value: (198n << 24n) | (18n << 16n) | 5n });
    expect(parseIp('2001:db8::1')?.family).toBe(6);
    expect(parseIp('::')).toEqual({ family: 6, value: 0n });
  });

  it('refuses prefixes, shorthand, zones and other text', () => {
    for (const bad of ['198.18.0.5/24', '10.1', '10', '256.0.0.1', 'fe80::1%eth0', 'web', '', '1.2.3.4.5'])
      expect(parseIp(bad), bad).toBeUndefined();
    expect(parseIp(5 as unknown as string)).toBeUndefined();
  });

  it('canonicalizes IPv6 text', () => {
    expect(canonicalIp('2001:DB8:0:0::0005')).toBe('2001:db8::5');
    expect(canonicalIp('198.18.0.5')).toBe('198.18.0.5');
    expect(canonicalIp('nope')).toBeUndefined();
  });
});

describe('parseCidr', () => {
  it('reads subnets of both families', () => {
    expect(parseCidr('198.18.0.0/24')).toEqual({ family: 4, base: ip('198.18.0.0'), prefixLength: 24 });
    expect(parseCidr('2001:db8::/64')).toEqual({ family: 6, base: ip('2001:db8::'), prefixLength: 64 });
    expect(parseCidr('0.0.0.0/0')?.prefixLength).toBe(0);
  });

  it('refuses host bits when strict and clears them otherwise', () => {
    expect(parseCidr('198.18.0.5/24', true)).toBeUndefined();
    expect(formatCidr(parseCidr('198.18.0.5/24', false)!)).toBe('198.18.0.0/24');
    expect(hasHostBits('198.18.0.5/24')).toBe(true);
    expect(hasHostBits('198.18.0.0/24')).toBe(false);
    expect(hasHostBits('lan')).toBe(false);
  });

  it('refuses prefixes that are too long or not numbers', () => {
    for (const bad of ['198.18.0.0/33', '2001:db8::/129', '198.18.0.0/', '198.18.0.0/x', '198.18.0.0', '/24', 'a/b'])
      expect(parseCidr(bad, false), bad).toBeUndefined();
  });
});

describe('subnet arithmetic', () => {
  it('knows containment and overlap, per family', () => {
    expect(containsCidr(cidr('198.18.0.0/16'), cidr('198.18.5.0/24'))).toBe(true);
    expect(containsCidr(cidr('198.18.5.0/24'), cidr('198.18.0.0/16'))).toBe(false);
    expect(overlaps(cidr('198.18.0.0/24'), cidr('198.18.0.128/25'))).toBe(true);
    expect(overlaps(cidr('198.18.0.0/25'), cidr('198.18.0.128/25'))).toBe(false);
    expect(overlaps(cidr('0.0.0.0/0'), cidr('::/0'))).toBe(false);
  });

  it('has network and broadcast addresses only for IPv4 up to /30', () => {
    expect(formatIp(4, networkAddress(cidr('198.18.0.0/24'))!)).toBe('198.18.0.0');
    expect(formatIp(4, broadcastAddress(cidr('198.18.0.0/24'))!)).toBe('198.18.0.255');
    expect(networkAddress(cidr('198.18.0.0/31'))).toBeUndefined();
    expect(broadcastAddress(cidr('198.18.0.0/32'))).toBeUndefined();
    expect(networkAddress(cidr('2001:db8::/64'))).toBeUndefined();
    expect(subnetRouterAnycast(cidr('2001:db8::/64'))).toBe(ip('2001:db8::'));
    expect(subnetRouterAnycast(cidr('2001:db8::/127'))).toBeUndefined();
    expect(subnetRouterAnycast(cidr('198.18.0.0/24'))).toBeUndefined();
  });

  it('puts the default gateway on the first usable address', () => {
    expect(formatIp(4, firstHost(cidr('198.18.0.0/24')))).toBe('198.18.0.1');
    expect(formatIp(4, firstHost(cidr('198.18.0.0/31')))).toBe('198.18.0.0');
    expect(formatIp(6, firstHost(cidr('2001:db8::/64')))).toBe('2001:db8::1');
  });
});

describe('lowestFree', () => {
  it('returns the lowest address, skipping the network address', () => {
    expect(free('198.18.0.0/24', '198.18.0.0/24')).toBe('198.18.0.1');
    expect(free('198.18.0.0/24', '198.18.0.0/24', ['198.18.0.1'])).toBe('198.18.0.2');
  });

  it('fills the first gap among taken addresses', () => {
    expect(free('198.18.0.0/24', '198.18.0.0/24', ['198.18.0.1', '198.18.0.2', '198.18.0.4'])).toBe('198.18.0.3');
    expect(free('198.18.0.0/24', '198.18.0.0/24', ['198.18.0.3', '198.18.0.1', '198.18.0.2'])).toBe('198.18.0.4');
  });

  it('ignores taken addresses outside the pool', () => {
    expect(free('198.18.0.128/25', '198.18.0.0/24', ['198.18.0.1', '198.18.0.2', '198.18.1.128'])).toBe('198.18.0.128');
  });

  it('honours an ipRange that starts at the subnet: the network address stays skipped', () => {
    expect(free('198.18.0.0/30', '198.18.0.0/24', ['198.18.0.1'])).toBe('198.18.0.2');
    expect(free('198.18.0.0/30', '198.18.0.0/24', ['198.18.0.1', '198.18.0.2', '198.18.0.3'])).toBeUndefined();
  });

  it('never hands out the broadcast address', () => {
    expect(free('198.18.0.252/30', '198.18.0.0/24', ['198.18.0.252', '198.18.0.253', '198.18.0.254'])).toBeUndefined();
  });

  it('skips the IPv6 Subnet-Router anycast address', () => {
    expect(free('2001:db8::/64', '2001:db8::/64', ['2001:db8::1'])).toBe('2001:db8::2');
    expect(free('2001:db8::100/120', '2001:db8::/64', [])).toBe('2001:db8::100');
  });

  it('walks a /64 with many taken addresses without scanning the pool', () => {
    const taken = Array.from({ length: 2000 }, (_, i) => `2001:db8::${(i + 1).toString(16)}`);
    expect(free('2001:db8::/64', '2001:db8::/64', taken)).toBe('2001:db8::7d1');
    // A full pool is found full from the taken set alone, however large the pool.
    expect(free('2001:db8::/126', '2001:db8::/64', ['2001:db8::1', '2001:db8::2', '2001:db8::3'])).toBeUndefined();
  });
});

describe('Docker default pools', () => {
  it('hands out 172.17-31.0.0/16, then 192.168.0.0/16 in /20s', () => {
    const pools = [...dockerDefaultPools()].map(formatCidr);
    expect(pools[0]).toBe('172.17.0.0/16');
    expect(pools[14]).toBe('172.31.0.0/16');
    expect(pools[15]).toBe('192.168.0.0/20');
    expect(pools[30]).toBe('192.168.240.0/20');
    expect(pools).toHaveLength(31);
  });
});

describe('MAC addresses', () => {
  it('accepts unicast MACs in colon form, in either case', () => {
    expect(macProblem('02:42:c6:12:00:05')).toBeUndefined();
    expect(macProblem('02:42:C6:12:00:05')).toBeUndefined();
  });

  it('refuses malformed, multicast and all-zero MACs', () => {
    expect(macProblem('02:42:c6:12:00')).toMatch(/not a MAC/);
    expect(macProblem('02-42-c6-12-00-05')).toMatch(/not a MAC/);
    expect(macProblem('01:00:5e:00:00:01')).toMatch(/multicast/);
    expect(macProblem('ff:ff:ff:ff:ff:ff')).toMatch(/multicast/);
    expect(macProblem('00:00:00:00:00:00')).toMatch(/all-zero/);
  });

  it('derives Docker\'s MAC from an address', () => {
    expect(macFromIp(4, ip('198.18.50.2'))).toBe('02:42:c6:12:32:02');
    expect(macFromIp(6, ip('2001:db8::c612:3202'))).toBe('02:42:c6:12:32:02');
  });
});
