import { describe, expect, it } from 'vitest';
import { relevantUndoErrors, rollbackReport } from './rollback-report.js';

const link = (ns: string, ifname: string, address: string, rest: string) => `local: link ${ns} ${ifname} ${address} kind=veth mtu=1500 ${rest}`;

describe('rollbackReport', () => {
  it('is empty when the owned state is as before (whatever order)', () => {
    const lines = ['local: ns big-s1 sandbox.s1 lo=up', link('big-s1', 'eth0', 'endpoint.s1.eth0', 'up mac=02:00:00:00:00:01 addrgenmode=none addrs=198.18.0.2/24')];
    expect(rollbackReport(lines, [...lines].reverse()).lines).toEqual([]);
  });

  it('speaks in resource addresses: a property changed, an object gone, an object left', () => {
    const before = [
      'local: ns big-s117 sandbox.s117 lo=up',
      link('big-s117', 'eth0', 'endpoint.s117.eth0', 'up mac=02:00:00:00:00:01 addrgenmode=none addrs='),
      link('-', 'tsn-n', 'network.n', 'up mac=02:00:00:00:00:02 addrs=198.18.0.1/24'),
      'local: route big-s117 default via 198.18.0.1 dev eth0',
    ];
    const after = [
      'local: ns big-s117 sandbox.s117 lo=up',
      link('big-s117', 'eth0', 'endpoint.s117.eth0', 'up mac=02:00:00:00:00:01 addrgenmode=eui64 addrs='),
      link('-', 'tsn-x', 'network.x', 'up mac=02:00:00:00:00:03 addrs='),
    ];
    expect(rollbackReport(before, after).lines).toEqual([
      '~ endpoint.s117.eth0: eth0 in big-s117: IPv6 on (addrgenmode eui64), was off',
      '- network.n: tsn-n is gone',
      '- sandbox.s117: route default via 198.18.0.1 dev eth0 in big-s117 is gone',
      '+ network.x: tsn-x is left (it was not there before)',
    ]);
  });

  it('folds the lines of one resource into one, and caps the report', () => {
    const before = Array.from({ length: 30 }, (_, i) => link(`big-s${i}`, 'eth0', `endpoint.s${i}.eth0`, 'up mac=m mtu=1500 addrs=198.18.0.2/24'));
    const after = before.map((l) => l.replace(' up ', ' down ').replace('198.18.0.2/24', ''));
    const r = rollbackReport(before, after, { cap: 3 });
    expect(r.lines).toEqual([
      '~ endpoint.s0.eth0: eth0 in big-s0: down, was up; no addresses, was addresses 198.18.0.2/24',
      '~ endpoint.s1.eth0: eth0 in big-s1: down, was up; no addresses, was addresses 198.18.0.2/24',
      '~ endpoint.s2.eth0: eth0 in big-s2: down, was up; no addresses, was addresses 198.18.0.2/24',
      '... and 27 more resources',
    ]);
  });
});

describe('relevantUndoErrors', () => {
  it('drops every undo error when the kernel is as before (an undo that found its object already gone)', () => {
    expect(relevantUndoErrors(['host local: Cannot find device "tsn-n"'], rollbackReport(['local: ns a sandbox.a lo=up'], ['local: ns a sandbox.a lo=up']))).toEqual([]);
  });

  it('keeps the errors about objects that differ, drops the others', () => {
    const r = rollbackReport([link('-', 'tsn-n', 'network.n', 'up mac=m addrs=')], []);
    expect(relevantUndoErrors(['host local: Cannot find device "tsn-other"', 'host local: RTNETLINK answers: File exists for "tsn-n"'], r)).toEqual(['host local: RTNETLINK answers: File exists for "tsn-n"']);
  });
});
