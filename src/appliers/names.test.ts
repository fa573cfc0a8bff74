// Names files: what they say (per-network visibility, several networks, container: aliases,
// dns), and how they are planned (create, drift, foreign, another topology's, delete, rename).
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { loadText } from '../model/load.js';
import type { Topology } from '../model/types.js';
import { expand } from '../planner/desired.js';
import { plan } from '../planner/plan.js';
import type { Plan } from '../planner/types.js';
import { splitText, type KFile } from '../state/files.js';
import { emptyNamespace, type KNamespace, type LiveState } from '../state/types.js';
import { b64 } from '../executor/tools/file.js';
import { fileContent, fileOwner, fileText, markerLine } from './names.js';
import { hostLines, LOCALHOST_LINES, namesFiles } from './names-content.js';

type Spec = Record<string, unknown>;

function load(spec: Spec): Topology {
  const r = loadText('t.yaml', stringify({ version: 1, name: 't', ...spec }), {});
  expect(r.diagnostics).toEqual([]);
  return r.topology!;
}

function errors(spec: Spec): string[] {
  const r = loadText('t.yaml', stringify({ version: 1, name: 't', ...spec }), {});
  return r.diagnostics.filter((d) => d.severity === 'error').map((d) => `${d.code} ${d.path}`);
}

const TWO_NETS = {
  networks: { front: { driver: 'bridge', subnet: '198.18.1.0/24' }, back: { driver: 'bridge', subnet: ['198.18.2.0/24', '2001:db8:2::/64'] } },
  sandboxes: {
    web: { endpoints: [{ network: 'front', ip: '198.18.1.10' }, { network: 'back', ip: ['198.18.2.10', '2001:db8:2::10'] }] },
    client: { endpoints: [{ network: 'front', ip: '198.18.1.20' }] },
    db: { endpoints: [{ network: 'back', ip: ['198.18.2.30', '2001:db8:2::30'] }] },
    side: { mode: 'container:web' },
    lonely: { mode: 'none' },
    h: { mode: 'host' },
  },
};

describe('hosts: who sees whom', () => {
  const t = load(TWO_NETS);
  const lines = (name: string) => hostLines(t, t.sandboxes.get(name)!);

  it('a sandbox sees only the sandboxes it shares a network with, by name and name.topology', () => {
    expect(lines('client')).toEqual(['198.18.1.20\tclient client.t', '198.18.1.10\tweb web.t side side.t']);
    expect(lines('db')).toEqual(['198.18.2.30\tdb db.t', '2001:db8:2::30\tdb db.t', '198.18.2.10\tweb web.t side side.t', '2001:db8:2::10\tweb web.t side side.t']);
  });

  it('on several shared networks, every address of the other on each (the first network of its endpoints first); its own on all, in name order like the others', () => {
    expect(lines('web')).toEqual([
      '198.18.1.20\tclient client.t',
      '198.18.2.30\tdb db.t',
      '2001:db8:2::30\tdb db.t',
      '198.18.1.10\tweb web.t side side.t',
      '198.18.2.10\tweb web.t side side.t',
      '2001:db8:2::10\tweb web.t side side.t',
    ]);
  });

  it('files: one hosts per namespace tsnet makes (none included, host and container: not), localhost lines first', () => {
    const files = namesFiles(t);
    expect(files.map((f) => `${f.address} ${f.path}`)).toEqual([
      'hosts.web /etc/netns/t-web/hosts',
      'hosts.client /etc/netns/t-client/hosts',
      'hosts.db /etc/netns/t-db/hosts',
      'hosts.lonely /etc/netns/t-lonely/hosts',
    ]);
    expect(files.find((f) => f.address === 'hosts.lonely')!.body).toBe(`${LOCALHOST_LINES.join('\n')}\n`);
  });

  it('a body is Docker\'s lines and hostLines; sandboxes on the same networks share one body (their own lines in name order too)', () => {
    const one = load({
      networks: { n: { driver: 'bridge', subnet: ['198.18.3.0/24', '2001:db8:3::/64'] }, m: { driver: 'bridge', subnet: '198.18.4.0/24' } },
      sandboxes: {
        b: { endpoints: [{ network: 'n', ip: ['198.18.3.2', '2001:db8:3::2'] }] },
        a: { endpoints: [{ network: 'n', ip: '198.18.3.3' }] },
        c: { endpoints: [{ network: 'n', ip: '198.18.3.5' }, { network: 'm', ip: '198.18.4.5' }] }, // on two networks
        d: { endpoints: [{ network: 'm', ip: '198.18.4.6' }] },
        z: { endpoints: [{ network: 'n', ip: '198.18.3.9' }] },
        alias: { mode: 'container:z' },
        lonely: { mode: 'none' },
      },
    });
    for (const topology of [t, one]) {
      for (const f of namesFiles(topology)) {
        const sb = topology.sandboxes.get(f.address.slice('hosts.'.length))!;
        expect(f.body, f.address).toBe(`${[...LOCALHOST_LINES, ...hostLines(topology, sb)].join('\n')}\n`);
      }
    }
    const body = (address: string) => namesFiles(one).find((f) => f.address === address)!.body;
    expect(body('hosts.b')).toBe(body('hosts.a'));
    expect(body('hosts.z')).toBe(body('hosts.a'));
    expect(body('hosts.c')).not.toBe(body('hosts.a'));
    expect(body('hosts.b').split('\n').slice(LOCALHOST_LINES.length)).toEqual([
      '198.18.3.3\ta a.t',
      '2001:db8:3::3\ta a.t', // an automatic address in the IPv6 subnet
      '198.18.3.2\tb b.t',
      '2001:db8:3::2\tb b.t',
      '198.18.3.5\tc c.t',
      '2001:db8:3::4\tc c.t',
      '198.18.3.9\tz z.t alias alias.t',
      '2001:db8:3::5\tz z.t alias alias.t',
      '',
    ]);
  });
});

describe('dns', () => {
  it('resolv.conf with the servers (canonical) and search domains', () => {
    const t = load({ sandboxes: { a: { dns: { servers: ['198.18.0.53', '2001:DB8::53'], search: ['lab.example', 'example'] } } } });
    const f = namesFiles(t).find((s) => s.kind === 'resolv')!;
    expect(f).toMatchObject({ address: 'resolv.a', path: '/etc/netns/t-a/resolv.conf' });
    expect(f.body).toBe('nameserver 198.18.0.53\nnameserver 2001:db8::53\nsearch lab.example example\n');
  });

  it('errors: no address, a host or container: sandbox, a bad domain, too many servers', () => {
    expect(errors({ sandboxes: { a: { dns: { servers: ['1.2.3'] } } } })).toEqual(['dns-server-invalid /sandboxes/a/dns/servers/0']);
    expect(errors({ sandboxes: { a: { mode: 'host', dns: { servers: ['198.18.0.53'] } } } })).toEqual(['dns-not-allowed /sandboxes/a/dns']);
    expect(errors({ sandboxes: { a: {}, b: { mode: 'container:a', dns: { search: ['x'] } } } })).toEqual(['dns-not-allowed /sandboxes/b/dns']);
    expect(errors({ sandboxes: { a: { dns: { search: ['bad domain\nnameserver 1.1.1.1'] } } } })).toHaveLength(1);
    expect(errors({ sandboxes: { a: { dns: { servers: ['198.18.0.1', '198.18.0.2', '198.18.0.3', '198.18.0.4'] } } } })).toHaveLength(1);
  });
});

describe('planning names files', () => {
  const spec = { sandboxes: { a: { dns: { servers: ['198.18.0.53'] } } } };
  const t = load(spec);
  const desired = expand(t);
  const hostsSpec = namesFiles(t).find((f) => f.kind === 'hosts')!;
  const ownedNs = (name: string, topology = 't', address = 'sandbox.a'): KNamespace => ({
    ...emptyNamespace(name),
    links: [{ ifindex: 1, ifname: 'lo', ns: name, kind: null, up: true, mtu: 65536, mac: '', alias: `tsnet:${topology}:${address}`, addresses: [] }],
  });

  function planWith(files: KFile[], opts: { destroy?: boolean; namespaces?: KNamespace[] } = {}): Plan {
    const live: LiveState = {
      hosts: new Map([
        ['local', { host: 'local', root: emptyNamespace(null), namespaces: new Map((opts.namespaces ?? []).map((n) => [n.name!, n])), files: new Map(files.map((f) => [f.path, f])) }],
      ]),
    };
    return plan({ topology: 't', hosts: ['local'], implicitHost: true, desired: opts.destroy ? new Map([['local', new Map()]]) : desired, live, ...(opts.destroy ? { destroy: true } : {}) });
  }
  const absent = (path: string, dirExists = false): KFile => ({ path, dirExists });
  const nothing = [absent('/etc/netns/t-a/hosts'), absent('/etc/netns/t-a/resolv.conf')];
  const fileSteps = (p: Plan) => p.steps.filter((s) => s.tool === 'file');

  it('creates both files; the undo removes them and the directory tsnet made', () => {
    const p = planWith(nothing);
    expect(p.changes.filter((c) => c.kind === 'hosts' || c.kind === 'resolv').map((c) => `${c.action} ${c.address}`)).toEqual(['create hosts.a', 'create resolv.a']);
    const [hosts] = fileSteps(p);
    // Head (marker and directory lines) and body apart.
    const [head, body] = hosts!.do[0]!.slice(2).map((d) => Buffer.from(d, 'base64').toString());
    expect(head).toBe(`${markerLine('t', 'hosts.a')}\n# tsnet made /etc/netns/t-a for this file: it is removed with it when empty\n`);
    expect(body).toBe(hostsSpec.body);
    expect(hosts!.undo.map((c) => c.argv.slice(0, 2))).toEqual([['remove', '/etc/netns/t-a/hosts'], ['rmdir', '/etc/netns/t-a']]);
    expect(hosts!.creates).toEqual([{ kind: 'file', host: 'local', ns: null, name: '/etc/netns/t-a/hosts', mark: 'hosts.a' }]);
  });

  it('in a directory that was there: no directory line, and the undo leaves the directory', () => {
    const p = planWith([absent('/etc/netns/t-a/hosts', true), absent('/etc/netns/t-a/resolv.conf', true)]);
    const [hosts] = fileSteps(p);
    expect(Buffer.from(hosts!.do[0]![2]!, 'base64').toString()).toBe(`${markerLine('t', 'hosts.a')}\n`);
    expect(Buffer.from(hosts!.do[0]![3]!, 'base64').toString().split('\n')[0]).toBe('127.0.0.1\tlocalhost');
    expect(hosts!.undo.map((c) => c.argv[0])).toEqual(['remove']);
  });

  it('nothing to do when the content matches; a hand edit is repaired and the undo writes back exactly what was there', () => {
    const content = fileContent('t', hostsSpec, { madeDir: true });
    const resolv = namesFiles(t).find((f) => f.kind === 'resolv')!;
    const same = [
      { path: hostsSpec.path, dirExists: true, content: splitText(content) },
      { path: resolv.path, dirExists: true, content: fileText('t', resolv, { madeDir: true }) },
    ];
    expect(fileSteps(planWith(same))).toEqual([]);
    const edited = `${content}198.18.0.99\tevil\n`;
    const p = planWith([{ ...same[0]!, content: splitText(edited) }, same[1]!]);
    expect(p.changes.filter((c) => c.kind === 'hosts').map((c) => `${c.action} ${c.address} ${c.reasons.join('; ')}`)).toEqual(['update hosts.a line 9: "198.18.0.99\\tevil" -> (no line)']);
    const [step] = fileSteps(p);
    const { head, body } = splitText(content);
    expect(step!.do).toEqual([['write', hostsSpec.path, b64(head), b64(body)]]);
    expect(step!.undo.map((c) => c.argv)).toEqual([['write', hostsSpec.path, b64(head), b64(splitText(edited).body)]]);
    // An edit of the head is drift too, numbered as the file's lines.
    const dirEdited = splitText(content.replace('# tsnet made', '# tsnet made:'));
    expect(dirEdited.head).toBe(`${markerLine('t', 'hosts.a')}\n`);
    expect(planWith([{ ...same[0]!, content: dirEdited }, same[1]!]).changes.find((c) => c.kind === 'hosts')?.reasons[0]).toMatch(/^line 2: "# tsnet made:/);
  });

  it('a file with the marker of earlier versions (an em dash) is ours: rewritten with the ASCII one, its undo writes back the old', () => {
    const { head, body } = fileText('t', hostsSpec, { madeDir: false });
    const old = head.replace(' - ', ' \u2014 ');
    const p = planWith([{ path: hostsSpec.path, dirExists: true, content: { head: old, body } }, absent('/etc/netns/t-a/resolv.conf', true)]);
    expect(p.errors).toEqual([]);
    const step = fileSteps(p).find((s) => s.address === 'hosts.a')!;
    expect(step.action).toBe('update');
    expect(step.do).toEqual([['write', hostsSpec.path, b64(head), b64(body)]]);
    expect(step.undo.map((c) => c.argv)).toEqual([['write', hostsSpec.path, b64(old), b64(body)]]);
    expect(p.changes.find((c) => c.address === 'hosts.a')!.reasons).toEqual([`line 1: ${JSON.stringify(old.trimEnd())} -> ${JSON.stringify(head.trimEnd())}`]);
  });

  it('many files with the same old and new body: one base64 body string for all the steps, and the same reasons', () => {
    const big = load({ networks: { n: { driver: 'bridge', subnet: '198.18.5.0/24' } }, sandboxes: Object.fromEntries(['a', 'b', 'c'].map((x) => [x, { endpoints: [{ network: 'n' }] }])) });
    const specs = namesFiles(big);
    const oldBody = `${LOCALHOST_LINES.join('\n')}\n198.18.5.200\tgone gone.t\n`;
    const live: LiveState = {
      hosts: new Map([
        ['local', { host: 'local', root: emptyNamespace(null), namespaces: new Map(), files: new Map(specs.map((f) => [f.path, { path: f.path, dirExists: true, content: { head: fileText('t', f, { madeDir: true }).head, body: oldBody } }])) }],
      ]),
    };
    const p = plan({ topology: 't', hosts: ['local'], implicitHost: true, desired: expand(big), live });
    const steps = fileSteps(p);
    expect(steps.map((s) => s.address)).toEqual(['hosts.a', 'hosts.b', 'hosts.c']);
    expect(new Set(steps.map((s) => s.do[0]![3])).size).toBe(1);
    expect(new Set(steps.map((s) => s.undo[0]!.argv[3])).size).toBe(1);
    expect(Buffer.from(steps[0]!.undo[0]!.argv[3]!, 'base64').toString()).toBe(oldBody);
    const reasons = p.changes.filter((c) => c.kind === 'hosts').map((c) => c.reasons);
    expect(reasons[0]).toEqual(['line 9: "198.18.5.200\\tgone gone.t" -> "198.18.5.2\\ta a.t"', 'line 10: (no line) -> "198.18.5.3\\tb b.t"', 'line 11: (no line) -> "198.18.5.4\\tc c.t"']);
    expect(reasons[1]).toEqual(reasons[0]);
  });

  it('a file tsnet did not write is a plan error naming it, and nothing is planned for it', () => {
    const p = planWith([{ path: hostsSpec.path, dirExists: true, content: splitText('127.0.0.1 localhost\n') }, nothing[1]!]);
    expect(p.errors.map((e) => `${e.address}: ${e.message}`)).toEqual([
      'hosts.a: cannot write /etc/netns/t-a/hosts: a file tsnet did not write is there (no tsnet marker on its first line); move it away or delete it first',
    ]);
    expect(fileSteps(p).map((s) => s.address)).toEqual(['resolv.a']);
  });

  it("another topology's file is an error too", () => {
    const p = planWith([{ path: hostsSpec.path, dirExists: true, content: splitText(`${markerLine('other', 'hosts.a')}\n`) }, nothing[1]!]);
    expect(p.errors.map((e) => e.message)).toEqual(['cannot write /etc/netns/t-a/hosts: it is owned by topology "other" (hosts.a)']);
  });

  it('destroy removes the files of the namespaces the topology owns (the directory when tsnet made it), undo writes them back', () => {
    const content = fileText('t', hostsSpec, { madeDir: true });
    const p = planWith([{ path: hostsSpec.path, dirExists: true, content }, absent('/etc/netns/t-a/resolv.conf', true)], { destroy: true, namespaces: [ownedNs('t-a')] });
    const steps = fileSteps(p);
    expect(steps.map((s) => [s.action, s.do.map((l) => l.slice(0, 2).join(' '))])).toEqual([['delete', ['remove /etc/netns/t-a/hosts', 'rmdir /etc/netns/t-a']]]);
    expect(steps[0]!.isDeletion).toBe(true);
    expect(steps[0]!.undo.map((c) => c.argv)).toEqual([['write', hostsSpec.path, b64(content.head), b64(content.body)]]);
  });

  it("files in namespaces of another topology or host are not this plan's", () => {
    const content = fileText('t', hostsSpec, { madeDir: true });
    const p = planWith([{ path: hostsSpec.path, dirExists: true, content }], { destroy: true, namespaces: [ownedNs('t-a', 'other')] });
    expect(fileSteps(p)).toEqual([]);
  });

  it('fileOwner reads the marker line', () => {
    expect(fileOwner(`${markerLine('t', 'hosts.a')}\nx`)).toEqual({ topology: 't', address: 'hosts.a' });
    expect(fileOwner('# tsnet is nice\n')).toBeUndefined();
  });
});

describe('names files when namespaces are swapped between sandboxes', () => {
  it("a file of another resource that the plan moves is written over after its removal, not refused", () => {
    const before = load({ sandboxes: { a: { netns: 'x' }, b: { netns: 'y' } } });
    const after = load({ sandboxes: { a: { netns: 'y' }, b: { netns: 'x' } } });
    const files = namesFiles(before).map((f) => ({ path: f.path, dirExists: true, content: fileText('t', f, { madeDir: false }) }));
    const live: LiveState = { hosts: new Map([['local', { host: 'local', root: emptyNamespace(null), namespaces: new Map(), files: new Map(files.map((f) => [f.path, f])) }]]) };
    const p = plan({ topology: 't', hosts: ['local'], implicitHost: true, desired: expand(after), live });
    expect(p.errors).toEqual([]);
    const writeA = p.steps.find((s) => s.address === 'hosts.a' && s.phase === 'write')!;
    expect(writeA.do[0]![1]).toBe('/etc/netns/y/hosts');
    expect(writeA.after).toContain('local|hosts.b|remove');
  });
});
