// ownDeletionsOnly: the rollback of an unconfirmed change runs after a wait, so it deletes only
// what still carries the topology's mark; a name taken by something else since is left alone.
import { describe, expect, it } from 'vitest';
import type { Step } from '../planner/types.js';
import { markText } from '../state/ownership.js';
import { emptyNamespace, type KLink, type LiveState } from '../state/types.js';
import { ownDeletionsOnly } from './confirm.js';

const link = (ifname: string, alias?: string): KLink => ({ ifindex: 1, ifname, ns: null, kind: 'veth', up: true, mtu: 1500, mac: '02:00:00:00:00:01', addresses: [], ...(alias ? { alias } : {}) });
const cmd = (ns: string | null, line: string) => ({ host: 'local', ns, tool: 'ip' as const, argv: line.split(' ') });
/** A completed step whose undo is `undo`. */
const undoing = (undo: Step['undo']): Step => ({ id: 'local|x|create', host: 'local', ns: null, tool: 'ip', address: 'x', action: 'create', description: 'x', do: [], after: [], undo });

describe('ownDeletionsOnly', () => {
  it("keeps deletions of objects still marked as the topology's and drops the others; other commands stay", () => {
    const live: LiveState = {
      hosts: new Map([
        [
          'local',
          {
            host: 'local',
            root: { ...emptyNamespace(null), links: [link('tsv-ours', markText('t', 'endpoint.a.eth0/peer')), link('tsv-taken'), link('tsn-other', markText('other', 'network.n'))] },
            namespaces: new Map([
              ['t-a', { ...emptyNamespace('t-a'), links: [link('lo', markText('t', 'sandbox.a'))] }],
              ['t-b', { ...emptyNamespace('t-b'), links: [link('lo')] }],
            ]),
          },
        ],
      ]),
    };
    const step = undoing([
        cmd(null, 'link del tsv-ours'),
        cmd(null, 'link del tsv-taken'),
        cmd(null, 'link del tsn-other'),
        cmd(null, 'link del tsv-gone'),
        cmd(null, 'netns del t-a'),
        cmd(null, 'netns del t-b'),
        cmd('t-a', 'addr del 198.18.0.2/24 dev eth0'),
      ]);
    const [kept] = ownDeletionsOnly([step], live, 't');
    expect(kept!.undo.map((c) => c.argv.join(' '))).toEqual(['link del tsv-ours', 'netns del t-a', 'addr del 198.18.0.2/24 dev eth0']);
  });

  it("runs nothing inside a namespace that is no longer the topology's, and leaves hosts it could not read as they were", () => {
    const live: LiveState = {
      hosts: new Map([['local', { host: 'local', root: emptyNamespace(null), namespaces: new Map([['t-b', { ...emptyNamespace('t-b'), links: [link('lo')] }]]) }]]),
    };
    const step = undoing([cmd('t-b', 'addr del 198.18.0.3/24 dev eth0'), cmd(null, 'netns del t-b'), { ...cmd(null, 'link del tsv-far'), host: 'far' }]);
    const [kept] = ownDeletionsOnly([step], live, 't');
    expect(kept!.undo.map((c) => `${c.host} ${c.argv.join(' ')}`)).toEqual(['far link del tsv-far']);
  });
});
