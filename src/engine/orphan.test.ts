// hostNamespaces: which namespaces of this machine stand for hosts of a topology whose file and
// record are gone (destroy --name), from the marks alone.
import { describe, expect, it } from 'vitest';
import { hostNamespaces } from './orphan.js';

describe('hostNamespaces', () => {
  it('unmarked namespaces holding the topology\'s bridges, VXLAN devices or veth host ends', () => {
    const namespaces = new Map([
      ['h2', [{ ifname: 'lo' }, { ifname: 'tsv1', alias: 'tsnet:t:endpoint.a.eth0/peer' }]],
      ['h1', [{ ifname: 'lo' }, { ifname: 'tsn-n', alias: 'tsnet:t:network.n' }, { ifname: 'eth9' }]],
      // A sandbox of the topology (its lo is marked) is no host.
      ['t-a', [{ ifname: 'lo', alias: 'tsnet:t:sandbox.a' }, { ifname: 'eth0', alias: 'tsnet:t:endpoint.a.eth0' }]],
      // A sandbox whose lo mark was removed by hand holds only inner ends: no host either.
      ['t-b', [{ ifname: 'lo' }, { ifname: 'eth0', alias: 'tsnet:t:endpoint.b.eth0' }]],
      // Another topology's host.
      ['other', [{ ifname: 'lo' }, { ifname: 'tsn-n', alias: 'tsnet:u:network.n' }]],
      ['foreign', [{ ifname: 'lo' }]],
    ]);
    expect(hostNamespaces('t', namespaces)).toEqual(['h1', 'h2']);
  });
});
