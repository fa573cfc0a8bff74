import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { prepare } from './prepare.js';
import { runRules, type Rule } from './rules.js';
import { checkSchema } from './schema-check.js';
import { SourceFile } from './source.js';
import { canonicalKey, hasEmptyPart, sysctlKeys, sysctlPath, sysctlValueProblem, sysctlValues } from './sysctls.js';
import type { TopologyFile } from './types.js';

function run(rule: Rule, sandboxes: Record<string, unknown>) {
  const source = new SourceFile('t.yaml', stringify({ version: 1, name: 't', sandboxes }));
  const schema = checkSchema(source, source.toJS());
  return runRules(prepare(source.toJS() as TopologyFile, schema.brokenPaths), source, [rule]);
}
const found = (rule: Rule, sysctls: Record<string, unknown>, mode?: string) =>
  run(rule, { r: { ...(mode ? { mode } : {}), sysctls } }).map((d) => `${d.code} ${d.path}`);

describe('sysctlPath', () => {
  it('names the file under /proc/sys as sysctl(8) does: dots separate, empty parts vanish', () => {
    expect(sysctlPath('net.ipv4.ip_forward')).toBe('net/ipv4/ip_forward');
    expect(sysctlPath('net.ipv4..ip_forward')).toBe('net/ipv4/ip_forward');
    expect(sysctlPath('net.ipv4.ip_forward.')).toBe('net/ipv4/ip_forward');
    expect(sysctlPath('net/ipv4/ip_forward')).toBe('net/ipv4/ip_forward');
    // With "/" first, dots are part of names (a VLAN interface); with "." first, "/" stands for a dot.
    expect(sysctlPath('net/ipv4/conf/eth0.100/forwarding')).toBe('net/ipv4/conf/eth0.100/forwarding');
    expect(sysctlPath('net.ipv4.conf.eth0/100.forwarding')).toBe('net/ipv4/conf/eth0.100/forwarding');
    expect(canonicalKey('net.ipv4..ip_forward')).toBe('net.ipv4.ip_forward');
    expect([hasEmptyPart('net.ipv4..ip_forward'), hasEmptyPart('net.ipv4.ip_forward.'), hasEmptyPart('net.ipv4.ip_forward')]).toEqual([true, true, false]);
  });
});

describe('sysctlKeys', () => {
  it('refuses two keys naming one kernel file, at the malformed one', () => {
    const diags = run(sysctlKeys, { r: { sysctls: { 'net.ipv4.ip_forward': 1, 'net.ipv4..ip_forward': 0 } } });
    expect(diags.map((d) => `${d.code} ${d.path} ${d.start?.line}`)).toEqual(['duplicate-sysctl /sandboxes/r/sysctls/net.ipv4..ip_forward 7']);
    expect(diags[0]!.message).toBe('sandbox "r" sets net.ipv4..ip_forward and net.ipv4.ip_forward, which name one kernel file (/proc/sys/net/ipv4/ip_forward)');
    // Whichever comes first in the file.
    expect(found(sysctlKeys, { 'net.ipv4..ip_forward': 0, 'net.ipv4.ip_forward': 1 })).toEqual(['duplicate-sysctl /sandboxes/r/sysctls/net.ipv4..ip_forward']);
  });

  it('refuses a key with an empty part on its own, with the key to write', () => {
    const diags = run(sysctlKeys, { r: { sysctls: { 'net.ipv4..ip_forward': 1 } } });
    expect(diags.map((d) => [d.code, d.hint])).toEqual([['bad-sysctl', 'write "net.ipv4.ip_forward"']]);
    expect(found(sysctlKeys, { 'net.ipv4.ip_forward.': 1 })).toEqual(['bad-sysctl /sandboxes/r/sysctls/net.ipv4.ip_forward.']);
  });

  it('reports two malformed keys of one file once each', () => {
    expect(found(sysctlKeys, { 'net..ipv4.ip_forward': 1, 'net.ipv4..ip_forward': 1 })).toEqual([
      'duplicate-sysctl /sandboxes/r/sysctls/net.ipv4..ip_forward',
      'bad-sysctl /sandboxes/r/sysctls/net..ipv4.ip_forward',
    ]);
  });

  it('accepts distinct keys, and the same key in two sandboxes', () => {
    expect(found(sysctlKeys, { 'net.ipv4.ip_forward': 1, 'net.ipv4.conf.all.forwarding': 1, 'net.ipv6.conf.all.forwarding': 1 })).toEqual([]);
    expect(run(sysctlKeys, { a: { sysctls: { 'net.ipv4.ip_forward': 1 } }, b: { sysctls: { 'net.ipv4.ip_forward': 0 } } })).toEqual([]);
  });

  it('leaves sandboxes that cannot have sysctls to modeContents', () => {
    expect(found(sysctlKeys, { 'net.ipv4..ip_forward': 1 }, 'host')).toEqual([]);
  });
});

describe('sysctlValues', () => {
  it('accepts integers, booleans, integer lists and words for the sysctls that take words', () => {
    for (const [key, value] of [
      ['net.ipv4.ip_forward', 1],
      ['net.ipv4.ip_forward', true],
      ['net.ipv4.ip_forward', '0'],
      ['net.ipv4.conf.all.rp_filter', -1],
      ['net.ipv4.ip_local_port_range', '32768 60999'],
      ['net.ipv4.tcp_rmem', '4096\t131072  6291456'],
      ['net.ipv4.fib_multipath_hash_fields', '0x0037'],
      ['net.ipv4.tcp_congestion_control', 'cubic'],
      ['net.ipv4.tcp_allowed_congestion_control', 'reno cubic'],
      ['net.ipv4.ip_local_reserved_ports', '8080,9000-9100'],
      ['net.ipv6.conf.eth0.stable_secret', '2001:db8::1'],
      ['net.ipv6.conf.all.stable_secret', '2001:db8::1'],
      ['net.mptcp.scheduler', 'default'],
    ] as const)
      expect(sysctlValueProblem(key, value), `${key}=${value}`).toBeUndefined();
  });

  it('refuses words where the kernel takes numbers, fractions and empty values', () => {
    const diags = run(sysctlValues, { r: { sysctls: { 'net.ipv4.ip_forward': 'yes', 'net.ipv4.conf.all.forwarding': 'off', 'net.core.somaxconn': 1.5, 'net.ipv4.tcp_ecn': ' ', 'net.ipv4.tcp_congestion_control': '' } } });
    expect(diags.map((d) => `${d.code} ${d.path} ${d.hint ?? ''}`)).toEqual([
      'bad-sysctl-value /sandboxes/r/sysctls/net.ipv4.ip_forward write 1 (or true)',
      'bad-sysctl-value /sandboxes/r/sysctls/net.ipv4.conf.all.forwarding write 0 (or false)',
      'bad-sysctl-value /sandboxes/r/sysctls/net.core.somaxconn write a whole number',
      'bad-sysctl-value /sandboxes/r/sysctls/net.ipv4.tcp_ecn give a value, or leave the key out',
      expect.stringMatching(/^bad-sysctl-value \/sandboxes\/r\/sysctls\/net.ipv4.tcp_congestion_control /),
    ]);
    expect(diags[0]!.message).toBe('net.ipv4.ip_forward of sandbox "r" is "yes": not a number, and this sysctl takes an integer (true and false mean 1 and 0) or integers separated by spaces');
    expect(diags[2]!.message).toBe('net.core.somaxconn of sandbox "r" is 1.5: not a whole number');
    expect(diags[1]!.hint).toBe('write 0 (or false)');
    expect(run(sysctlValues, { r: { sysctls: { 'net.ipv4.conf.all.rp_filter': 'strict' } } })[0]!.hint).toBe(
      'only these take words: net.ipv4.tcp_congestion_control, net.ipv4.tcp_allowed_congestion_control, net.ipv4.tcp_fastopen_key, net.ipv4.ip_local_reserved_ports, net.ipv6.conf.<interface>.stable_secret, net.mptcp.scheduler, net.mptcp.path_manager',
    );
    expect(sysctlValueProblem('net.ipv4.ip_local_port_range', '32768-60999')).toBeDefined();
    expect(sysctlValueProblem('net.ipv4.conf.eth0.stable_secret', 'x')).toBeDefined();
  });

  it('leaves values the schema refused, and sandboxes that cannot have sysctls, alone', () => {
    expect(found(sysctlValues, { 'net.core.somaxconn': '1\n2' })).toEqual([]);
    expect(found(sysctlValues, { 'net.ipv4.ip_forward': 'yes' }, 'container:x')).toEqual([]);
  });
});
