// Adoption after an interrupted apply (src/planner/plan.ts, markHalfMade; README "GitOps"),
// golden-style: a hand-built kernel state as an apply killed in the middle of its first batch
// leaves it (the namespace made but its lo not yet marked, the veth pair made but neither end
// marked, the bridge complete), planned with and without that apply's journal. With it, the
// unmarked namespace and veth ends are this topology's: they are marked and repaired, with the
// reason given, and nothing is refused. Without it, the same objects are foreign: the plan
// refuses them as name clashes. The expected plans and steps are written out in full below.
import { describe, expect, it } from 'vitest';
import { loadText } from '../../src/model/load.js';
import { expand } from '../../src/planner/desired.js';
import { plan } from '../../src/planner/plan.js';
import { renderPlan } from '../../src/planner/render.js';
import type { Interrupted } from '../../src/planner/types.js';
import { markText } from '../../src/state/ownership.js';
import { emptyNamespace, type KLink, type LiveState } from '../../src/state/types.js';
import { renderSteps } from '../support/golden.js';

const TOPOLOGY = `version: 1
name: half
networks:
  web: {driver: bridge, subnet: 198.18.40.0/24}
sandboxes:
  a: {endpoints: [{network: web, ip: 198.18.40.10}]}
`;
const topology = loadText('half.yaml', TOPOLOGY).topology!;
const desired = expand(topology);
const HOST_END = topology.sandboxes.get('a')!.endpoints[0]!.hostIfname!;

const input = (live: LiveState, interrupted?: Interrupted) => ({
  topology: 'half',
  hosts: ['local'],
  implicitHost: true,
  desired,
  live,
  ...(interrupted ? { interrupted } : {}),
});

/** What the killed apply was carrying out: the plan from an empty kernel. */
const killedPlan = plan(input({ hosts: new Map([['local', { host: 'local', root: emptyNamespace(null), namespaces: new Map() }]]) }));

let ifindex = 1;
const link = (ns: string | null, ifname: string, extra: Partial<KLink>): KLink => ({
  ifindex: ifindex++,
  ifname,
  ns,
  kind: 'veth',
  up: false,
  mtu: 1500,
  mac: `02:00:00:00:00:0${ifindex}`,
  addresses: [],
  ...extra,
});

/**
 * The kernel after the kill, mid-way through the first batch: `netns add half-a` ran; the bridge
 * lines ran (it is marked, up, with its address); `link add HOST type veth peer name eth0 netns
 * half-a` ran, and the line marking the host end did not.
 */
function afterKill(): LiveState {
  const root = {
    ...emptyNamespace(null),
    links: [
      link(null, 'tsn-web', { kind: 'bridge', up: true, addrGenMode: 'none', alias: markText('half', 'network.web'), addresses: [{ family: 4, cidr: '198.18.40.1/24', scope: 'global' }] }),
      link(null, HOST_END, { addrGenMode: 'eui64' }),
    ],
  };
  const ns = { ...emptyNamespace('half-a'), links: [link('half-a', 'lo', { kind: null, mtu: 65536 }), link('half-a', 'eth0', { addrGenMode: 'eui64' })] };
  return { hosts: new Map([['local', { host: 'local', root, namespaces: new Map([['half-a', ns]]) }]]) };
}

// Killed while its first batches ran: every step had begun, none was recorded done.
const journal: Interrupted = { pid: 4242, started: '2026-01-01T00:00:00.000Z', steps: killedPlan.steps, done: [], begun: killedPlan.steps.map((s) => s.id) };

const rendered = (p: ReturnType<typeof plan>) => `${renderPlan(p, { file: 'half.yaml' })}\n\n--- steps ---\n${p.errors.length ? '(none)' : renderSteps(p)}\n`;

describe('plan after an interrupted apply', () => {
  it('the killed plan is the one expected (what the journal holds)', () => {
    expect(killedPlan.steps.map((s) => s.id).sort()).toEqual([
      'local|endpoint.a.eth0|config',
      'local|endpoint.a.eth0|create',
      'local|network.web|create',
      'local|route.a.default|create',
      'local|sandbox.a|config',
      'local|sandbox.a|create',
    ]);
  });

  it('with the journal: the unmarked namespace and veth ends are adopted and marked, not refused', () => {
    const p = plan(input(afterKill(), journal));
    expect(p.errors).toEqual([]);
    expect(rendered(p)).toBe(`Note: The last apply of "half" (process 4242, started 2026-01-01T00:00:00.000Z) was interrupted after 0 of its 6 steps; this plan repairs what it left, and the objects it half made are recognised as this topology's.

  ~ sandbox.a        namespace half-a
      lo is down
      left half-made by the interrupted apply (process 4242): marked as this topology's
  ~ endpoint.a.eth0  veth ${HOST_END} on tsn-web <-> half-a/eth0 198.18.40.10/24
      host end is not on bridge tsn-web
      IPv6 is on at host end ${HOST_END}, the network has none
      host end ${HOST_END} is down
      IPv6 is on (addrgenmode eui64), the network has none
      address 198.18.40.10/24 missing
      link is down
      left half-made by the interrupted apply (process 4242): marked as this topology's
  + route.a.default  default via 198.18.40.1 in half-a

Plan: 1 to add, 2 to change, 0 to destroy.

--- steps ---
1. bring up lo in half-a [local ns=half-a ip] local|sandbox.a|update
   do:   link set dev lo up
   undo: [ns=half-a] link set dev lo down
2. update host end of endpoint.a.eth0 [local ip] local|endpoint.a.eth0|update-host
   do:   link set dev ${HOST_END} master tsn-web
   do:   link set dev ${HOST_END} addrgenmode none
   do:   link set dev ${HOST_END} up
   undo: link set dev ${HOST_END} down
   undo: link set dev ${HOST_END} addrgenmode eui64
   undo: link set dev ${HOST_END} nomaster
3. update half-a/eth0 [local ns=half-a ip] local|endpoint.a.eth0|update
   do:   link set dev eth0 addrgenmode none
   do:   addr add 198.18.40.10/24 dev eth0
   do:   link set dev eth0 up
   undo: [ns=half-a] link set dev eth0 down
   undo: [ns=half-a] addr del 198.18.40.10/24 dev eth0
   undo: [ns=half-a] link set dev eth0 addrgenmode eui64
4. mark namespace half-a as tsnet's [local ns=half-a ip] local|sandbox.a|mark
   do:   link set dev lo alias tsnet:half:sandbox.a
5. mark ${HOST_END} as tsnet's [local ip] local|endpoint.a.eth0|mark-${HOST_END}
   do:   link set dev ${HOST_END} alias tsnet:half:endpoint.a.eth0/peer
6. mark half-a/eth0 as tsnet's [local ns=half-a ip] local|endpoint.a.eth0|mark-eth0
   do:   link set dev eth0 alias tsnet:half:endpoint.a.eth0
7. add route default via 198.18.40.1 in half-a [local ns=half-a ip] local|route.a.default|create
   after: local|endpoint.a.eth0|update-host, local|endpoint.a.eth0|update, local|endpoint.a.eth0|mark-${HOST_END}, local|endpoint.a.eth0|mark-eth0
   do:   route add default via 198.18.40.1 proto 116
   undo: [ns=half-a] route del default via 198.18.40.1 proto 116
`);
  });

  it("killed again during the repair, before its mark steps ran: the repair's own journal still adopts them", () => {
    const repair = plan(input(afterKill(), journal));
    const mark = repair.steps.findIndex((s) => s.description.startsWith('mark '));
    expect(mark).toBeGreaterThan(0);
    // The kernel stays as after the first kill as far as marks go: the repair died before marking.
    const again: Interrupted = { pid: 4343, started: '2026-01-01T00:01:00.000Z', steps: repair.steps, done: repair.steps.slice(0, mark).map((s) => s.id), begun: repair.steps.slice(0, mark).map((s) => s.id) };
    const p = plan(input(afterKill(), again));
    expect(p.errors).toEqual([]);
    expect(p.steps.filter((s) => s.description.startsWith('mark ')).map((s) => s.description)).toEqual([
      "mark namespace half-a as tsnet's",
      `mark ${HOST_END} as tsnet's`,
      "mark half-a/eth0 as tsnet's",
    ]);
  });

  it('without the journal: the same objects are foreign, and the plan refuses them as name clashes', () => {
    const p = plan(input(afterKill()));
    expect(p.steps.filter((s) => s.description.startsWith('mark '))).toEqual([]);
    expect(rendered(p)).toBe(`error: sandbox.a: cannot create namespace "half-a": the name is taken by a foreign namespace "half-a" (not made by tsnet)
error: endpoint.a.eth0: cannot create veth "${HOST_END}": the name is taken by a foreign veth "${HOST_END}" in the host's own stack (not made by tsnet)

The plan has 2 errors; nothing was changed.

--- steps ---
(none)
`);
  });
});

describe('adoption is limited to what the killed apply can have made', () => {
  /** A foreign bridge under the name the killed apply's first step would have created. */
  const foreignBridge = (kind: string): LiveState => ({
    hosts: new Map([['local', { host: 'local', root: { ...emptyNamespace(null), links: [link(null, 'tsn-web', { kind, up: true })] }, namespaces: new Map() }]]),
  });
  const bridgeStep = killedPlan.steps.find((s) => s.id === 'local|network.web|create')!;

  it('an object named by a step that never began is foreign: the plan refuses the name clash', () => {
    const neverRan: Interrupted = { pid: 4242, started: '2026-01-01T00:00:00.000Z', steps: killedPlan.steps, done: [], begun: [] };
    const p = plan(input(foreignBridge('bridge'), neverRan));
    expect(p.errors.map((e) => e.message)).toEqual([expect.stringContaining('cannot create bridge "tsn-web": the name is taken by a foreign bridge "tsn-web"')]);
    expect(p.steps.filter((s) => s.description.startsWith('mark '))).toEqual([]);
  });

  it('a step that began adopts only an object of the kind it makes (a veth named like its bridge is foreign)', () => {
    const began: Interrupted = { pid: 4242, started: '2026-01-01T00:00:00.000Z', steps: killedPlan.steps, done: [], begun: [bridgeStep.id] };
    expect(plan(input(foreignBridge('veth'), began)).errors.map((e) => e.message)).toEqual([expect.stringContaining('the name is taken by a foreign veth "tsn-web"')]);
    const adopted = plan(input(foreignBridge('bridge'), began));
    expect(adopted.errors).toEqual([]);
    expect(adopted.steps.map((s) => s.description)).toContain("mark tsn-web as tsnet's");
  });
});
