// Which namespaces tc reads (issue 12): only where a link of the topology holds a non-default
// root qdisc, as `ip -json link` already tells; a topology that shapes nothing starts no tc process.
import { describe, expect, it } from 'vitest';
import { needsQdiscRead, parseLink } from './read.js';
import { emptyNamespace, type KNamespace } from './types.js';

const ns = (...links: { ifname: string; qdisc: string; alias?: string }[]): KNamespace => ({
  ...emptyNamespace('t-a'),
  links: links.map((l, i) => parseLink({ ifindex: i + 1, ifname: l.ifname, mtu: 1500, qdisc: l.qdisc, ...(l.alias ? { ifalias: l.alias } : {}) }, 't-a')),
});

describe('needsQdiscRead', () => {
  it('reads the qdisc kind from ip -json link', () => {
    expect(ns({ ifname: 'eth0', qdisc: 'tbf' }).links[0]!.qdisc).toBe('tbf');
  });

  it('is false where every link of the topology holds the default (noqueue, noop)', () => {
    expect(needsQdiscRead(ns({ ifname: 'lo', qdisc: 'noqueue' }, { ifname: 'eth0', qdisc: 'noqueue', alias: 'tsnet:t:endpoint.a.eth0' }), 't')).toBe(false);
    expect(needsQdiscRead(ns({ ifname: 'eth0', qdisc: 'noop', alias: 'tsnet:t:endpoint.a.eth0' }), 't')).toBe(false);
  });

  it('is true where a link of the topology holds anything else (tbf, netem, a hand-added htb)', () => {
    for (const qdisc of ['tbf', 'netem', 'htb', 'pfifo_fast']) expect(needsQdiscRead(ns({ ifname: 'eth0', qdisc, alias: 'tsnet:t:endpoint.a.eth0' }), 't')).toBe(true);
  });

  it('ignores links that are not the topology\'s (a NIC\'s fq_codel, another topology\'s tbf)', () => {
    expect(needsQdiscRead(ns({ ifname: 'enp1s0', qdisc: 'fq_codel' }, { ifname: 'eth1', qdisc: 'tbf', alias: 'tsnet:other:endpoint.a.eth1' }), 't')).toBe(false);
  });
});
