// countMarks: what `tsnet list` counts per topology from the marks on a machine.
import { describe, expect, it } from 'vitest';
import { countMarks, hostStandIns, type MachineMarks } from './inventory.js';

const m = (over: Partial<MachineMarks> = {}): MachineMarks => ({ root: [], namespaces: new Map(), tables: new Map(), ...over });

describe('countMarks', () => {
  it('namespaces by their lo, links anywhere (the machine\'s stack, sandboxes, namespaces standing for hosts), tables by name', () => {
    const counts = countMarks(
      m({
        root: [{ ifname: 'lo' }, { ifname: 'eth0' }, { ifname: 'tsn-web', alias: 'tsnet:a:network.web' }, { ifname: 'tsv1', alias: 'tsnet:a:endpoint.x.eth0/peer' }, { ifname: 'br0', alias: 'my bridge' }],
        namespaces: new Map([
          ['a-x', [{ ifname: 'lo', alias: 'tsnet:a:sandbox.x' }, { ifname: 'eth0', alias: 'tsnet:a:endpoint.x.eth0' }]],
          ['a-none', [{ ifname: 'lo', alias: 'tsnet:a:sandbox.none' }]],
          // A namespace standing for a host of topology b: its lo is not marked, its links are.
          ['h1', [{ ifname: 'lo' }, { ifname: 'tsn-n', alias: 'tsnet:b:network.n' }, { ifname: 'tsv2', alias: 'tsnet:b:endpoint.y.eth0/peer' }]],
          ['b-y', [{ ifname: 'lo', alias: 'tsnet:b:sandbox.y' }, { ifname: 'eth0', alias: 'tsnet:b:endpoint.y.eth0' }]],
          ['foreign', [{ ifname: 'lo' }, { ifname: 'veth9' }]],
        ]),
        tables: new Map([
          ['', ['filter', 'tsnet-a']],
          ['h1', ['tsnet-b']],
          ['foreign', ['tsnet-']],
        ]),
      }),
    );
    expect(counts).toEqual([
      { name: 'a', namespaces: 2, links: 3, nftTables: 1 },
      { name: 'b', namespaces: 1, links: 3, nftTables: 1 },
    ]);
  });

  it('nothing of tsnet: no topology', () => {
    expect(countMarks(m({ root: [{ ifname: 'eth0', alias: 'uplink' }], tables: new Map([['', ['filter']]]) }))).toEqual([]);
  });

  it('hostStandIns: no mark on lo, a mark on some link; not sandboxes, not plain foreign namespaces', () => {
    const namespaces = new Map([
      ['s', [{ ifname: 'lo', alias: 'tsnet:a:sandbox.s' }, { ifname: 'eth0', alias: 'tsnet:a:endpoint.s.eth0' }]],
      ['h', [{ ifname: 'lo' }, { ifname: 'tsn-n', alias: 'tsnet:b:network.n' }]],
      ['foreign', [{ ifname: 'lo' }, { ifname: 'veth0', alias: 'not a mark' }]],
      ['empty', [{ ifname: 'lo' }]],
    ]);
    expect(hostStandIns({ namespaces })).toEqual(['h']);
  });
});
