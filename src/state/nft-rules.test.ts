// Rules read back from `nft -j` are compared as the text `nft list` prints. The expressions
// below are nft 1.0.6's own JSON for the rules tsnet writes (captured in the lab), each with the
// line `nft list table` printed for it: ruleText must give exactly that line.
import { describe, expect, it } from 'vitest';
import { parseNatTable, ruleText } from './nft.js';
import { parseSs } from './listeners.js';

const m = (left: unknown, right: unknown, op = '==') => ({ match: { op, left, right } });
const meta = (key: string) => ({ meta: { key } });
const payload = (protocol: string, field: string) => ({ payload: { protocol, field } });

describe('ruleText', () => {
  const cases: [unknown[], string][] = [
    [
      [m({ fib: { result: 'type', flags: ['daddr'] } }, 'local'), m(payload('ip', 'daddr'), { prefix: { addr: '127.0.0.0', len: 8 } }, '!='), m(payload('tcp', 'dport'), 8080), { dnat: { family: 'ip', addr: '198.18.1.2', port: 80 } }],
      'fib daddr type local ip daddr != 127.0.0.0/8 tcp dport 8080 dnat ip to 198.18.1.2:80',
    ],
    [[m(payload('ip6', 'daddr'), '::1'), m(payload('tcp', 'dport'), 8443), { dnat: { family: 'ip6', addr: '2001:db8:1::2', port: 443 } }], 'ip6 daddr ::1 tcp dport 8443 dnat ip6 to [2001:db8:1::2]:443'],
    [[m(meta('iifname'), 'br0'), m(meta('oifname'), 'br0'), m({ ct: { key: 'status' } }, 'dnat', 'in'), { masquerade: null }], 'iifname "br0" oifname "br0" ct status dnat masquerade'],
    [[m(meta('oifname'), 'br0'), m(payload('ip', 'saddr'), { prefix: { addr: '127.0.0.0', len: 8 } }), { masquerade: null }], 'oifname "br0" ip saddr 127.0.0.0/8 masquerade'],
    [[m(meta('iifname'), 'br0'), m(meta('oifname'), 'br0', '!='), { drop: null }], 'iifname "br0" oifname != "br0" drop'],
    [[m(meta('iifname'), 'br0'), m(meta('oifname'), 'br1'), m(payload('ip', 'saddr'), '198.18.1.2'), m(payload('ip', 'daddr'), { prefix: { addr: '198.18.2.0', len: 24 } }), m(payload('tcp', 'dport'), 5432), { accept: null }], 'iifname "br0" oifname "br1" ip saddr 198.18.1.2 ip daddr 198.18.2.0/24 tcp dport 5432 accept'],
    [[m({ ct: { key: 'state' } }, ['established', 'related'], 'in'), { accept: null }], 'ct state established,related accept'],
    [[m(meta('iifname'), 'br0'), m(meta('oifname'), { set: ['br1', 'br2'] }), { drop: null }], 'iifname "br0" oifname { "br1", "br2" } drop'],
    [[m(meta('iifname'), 'br0'), m({ ct: { key: 'state' } }, { set: ['established', 'related'] }, '!='), { drop: null }], 'iifname "br0" ct state != { established, related } drop'],
  ];
  for (const [expr, text] of cases) it(text, () => expect(ruleText(expr)).toBe(text));

  it('gives up on any expression tsnet never writes (so the rule is drift)', () => {
    expect(ruleText([m(meta('iifname'), 'br0'), { counter: { packets: 0, bytes: 0 } }, { accept: null }])).toBeUndefined();
    expect(ruleText([m(meta('iifname'), 'br0'), { jump: { target: 'x' } }])).toBeUndefined();
    expect(ruleText([])).toBeUndefined();
  });

  it('is kept on each rule read, with its comment', () => {
    const json = {
      nftables: [
        { table: { family: 'inet', name: 'tsnet-t' } },
        { chain: { family: 'inet', table: 'tsnet-t', name: 'isolation-a', type: 'filter', hook: 'forward', prio: 0 } },
        { rule: { family: 'inet', table: 'tsnet-t', chain: 'isolation-a', handle: 4, comment: 'tsnet:t:isolation.a.b', expr: [m(meta('iifname'), 'tsn-a'), m(meta('oifname'), 'tsn-b'), { drop: null }] } },
      ],
    };
    const t = parseNatTable(JSON.stringify(json), 'tsnet-t');
    expect(t.chains).toEqual([{ name: 'isolation-a', base: 'filter/forward/0', rules: [expect.objectContaining({ handle: 4, comment: 'tsnet:t:isolation.a.b', text: 'iifname "tsn-a" oifname "tsn-b" drop' })] }]);
  });
});

describe('parseSs', () => {
  it('reads listening sockets with their process', () => {
    const out = [
      'udp   UNCONN 0      0          127.0.0.53%lo:53         0.0.0.0:*    users:(("systemd-resolve",pid=501,fd=13))',
      'tcp   LISTEN 0      128              0.0.0.0:22         0.0.0.0:*    users:(("sshd",pid=412,fd=3))',
      'tcp   LISTEN 0      511                 [::]:8080          [::]:*',
      'tcp   LISTEN 0      4096                   *:9090             *:*    users:(("node",pid=77,fd=20))',
      '',
    ].join('\n');
    expect(parseSs(out)).toEqual([
      { proto: 'udp', address: '127.0.0.53', port: 53, process: 'systemd-resolve (pid 501)' },
      { proto: 'tcp', address: '0.0.0.0', port: 22, process: 'sshd (pid 412)' },
      { proto: 'tcp', address: '::', port: 8080 },
      { proto: 'tcp', address: '*', port: 9090, process: 'node (pid 77)' },
    ]);
  });
});
