// ownDeletionsOnly: the rollback of an unconfirmed change runs after a wait, so it deletes only
// what still carries the topology's mark; a name taken by something else since is left alone.
// What an undo command deletes is data on the command (its argv is never read).
import { describe, expect, it } from 'vitest';
import type { Command, ObjectRef, Step } from '../planner/types.js';
import { markText } from '../state/ownership.js';
import { emptyNamespace, type KLink, type LiveState } from '../state/types.js';
import { ownDeletionsOnly } from './confirm.js';

const link = (ifname: string, alias?: string): KLink => ({ ifindex: 1, ifname, ns: null, kind: 'veth', up: true, mtu: 1500, mac: '02:00:00:00:00:01', addresses: [], ...(alias ? { alias } : {}) });
const cmd = (ns: string | null, line: string): Command => ({ host: 'local', ns, tool: 'ip' as const, argv: line.split(' ') });
/** A command deleting an object, which it says as data. */
const del = (ns: string | null, line: string, deletes: Omit<ObjectRef, 'host'>): Command => ({ ...cmd(ns, line), deletes: [{ host: 'local', ...deletes }] });
const delLink = (name: string) => del(null, `link del ${name}`, { kind: 'link', ns: null, name });
const delNetns = (name: string) => del(null, `netns del ${name}`, { kind: 'netns', ns: null, name });
/** A completed step whose undo is `undo`. */
const undoing = (undo: Step['undo']): Step => ({
  id: 'local|x|create',
  host: 'local',
  address: 'x',
  phase: 'create',
  ns: null,
  tool: 'ip',
  action: 'create',
  isDeletion: false,
  description: 'x',
  do: [],
  creates: [],
  deletes: [],
  marks: [],
  after: [],
  undo,
});

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
      delLink('tsv-ours'),
      delLink('tsv-taken'),
      delLink('tsn-other'),
      delLink('tsv-gone'),
      delNetns('t-a'),
      delNetns('t-b'),
      cmd('t-a', 'addr del 198.18.0.2/24 dev eth0'),
    ]);
    const [kept] = ownDeletionsOnly([step], live, 't');
    expect(kept!.undo.map((c) => c.argv.join(' '))).toEqual(['link del tsv-ours', 'netns del t-a', 'addr del 198.18.0.2/24 dev eth0']);
  });

  it("runs nothing inside a namespace that is no longer the topology's, and leaves hosts it could not read as they were", () => {
    const live: LiveState = {
      hosts: new Map([['local', { host: 'local', root: emptyNamespace(null), namespaces: new Map([['t-b', { ...emptyNamespace('t-b'), links: [link('lo')] }]]) }]]),
    };
    const far: Command = { host: 'far', ns: null, tool: 'ip', argv: ['link', 'del', 'tsv-far'], deletes: [{ kind: 'link', host: 'far', ns: null, name: 'tsv-far' }] };
    const step = undoing([cmd('t-b', 'addr del 198.18.0.3/24 dev eth0'), delNetns('t-b'), far]);
    const [kept] = ownDeletionsOnly([step], live, 't');
    expect(kept!.undo.map((c) => `${c.host} ${c.argv.join(' ')}`)).toEqual(['far link del tsv-far']);
  });
});
