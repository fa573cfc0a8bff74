// Names files: what they say (per-network visibility, several networks, container: aliases,
// dns), which sandboxes share a hosts file, and how they are planned (create, drift, a re-pointed
// link, foreign files and links, another topology's, stale shared files, delete, rename, undo).
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { loadText } from '../model/load.js';
import type { Topology } from '../model/types.js';
import { expand } from '../planner/desired.js';
import { plan } from '../planner/plan.js';
import type { Plan } from '../planner/types.js';
import { sharedPath, sharedTarget, splitText, type KFile } from '../state/files.js';
import type { ContentSpec, LinkSpec } from '../planner/desired.js';
import { emptyNamespace, type KNamespace, type LiveState } from '../state/types.js';
import { b64 } from '../executor/tools/file.js';
import { fileOwner, fileText, hostLine, markerLine } from './names.js';
import { hostLines, LOCALHOST_LINES, namesFiles, sharedKey } from './names-content.js';

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

  it('files: a hosts link per namespace tsnet makes (none included, host and container: not) to a shared file per set of networks, localhost lines first', () => {
    const files = namesFiles(t);
    const key = (...nets: string[]) => sharedKey('local', nets);
    expect(files.map((f) => `${f.address} ${f.path}${f.kind === 'hosts' ? ` -> ${f.target}` : ''}`)).toEqual([
      `hostsfile.${key('front')} /etc/netns/.tsnet/t/${key('front')}.hosts`,
      `hosts.client /etc/netns/t-client/hosts -> ../.tsnet/t/${key('front')}.hosts`,
      `hostsfile.${key('back')} /etc/netns/.tsnet/t/${key('back')}.hosts`,
      `hosts.db /etc/netns/t-db/hosts -> ../.tsnet/t/${key('back')}.hosts`,
      `hostsfile.${key()} /etc/netns/.tsnet/t/${key()}.hosts`,
      `hosts.lonely /etc/netns/t-lonely/hosts -> ../.tsnet/t/${key()}.hosts`,
      `hostsfile.${key('back', 'front')} /etc/netns/.tsnet/t/${key('back', 'front')}.hosts`,
      `hosts.web /etc/netns/t-web/hosts -> ../.tsnet/t/${key('back', 'front')}.hosts`,
    ]);
    expect((files.find((f) => f.address === `hostsfile.${key()}`) as ContentSpec).body).toBe(`${LOCALHOST_LINES.join('\n')}\n`);
  });

  it('sharing keys: a short stable hash of the host and the sorted networks', () => {
    expect(sharedKey('local', ['a', 'b'])).toMatch(/^[0-9a-f]{8}$/);
    expect(sharedKey('local', ['a', 'b'])).toBe(sharedKey('local', ['a', 'b']));
    expect(sharedKey('local', ['a', 'b'])).not.toBe(sharedKey('local', ['ab']));
    expect(sharedKey('local', ['a'])).not.toBe(sharedKey('h1', ['a']));
  });

  it('a body is Docker\'s lines and hostLines; sandboxes on the same networks (of one host) link to one shared file', () => {
    const one = load({
      hosts: { h0: { via: 'local' }, h1: { via: 'netns lab-h1' } },
      networks: { n: { driver: 'bridge', subnet: ['198.18.3.0/24', '2001:db8:3::/64'] }, m: { driver: 'bridge', subnet: '198.18.4.0/24' } },
      sandboxes: {
        b: { host: 'h0', endpoints: [{ network: 'n', ip: ['198.18.3.2', '2001:db8:3::2'] }] },
        a: { host: 'h0', endpoints: [{ network: 'n', ip: '198.18.3.3' }] },
        c: { host: 'h0', endpoints: [{ network: 'n', ip: '198.18.3.5' }, { network: 'm', ip: '198.18.4.5' }] }, // on two networks
        d: { host: 'h0', endpoints: [{ network: 'm', ip: '198.18.4.6' }] },
        z: { host: 'h0', endpoints: [{ network: 'n', ip: '198.18.3.9' }] },
        alias: { host: 'h0', mode: 'container:z' },
        lonely: { host: 'h0', mode: 'none' },
        other: { host: 'h1', mode: 'none' }, // on another host of the same machine
      },
    });
    for (const topology of [t, one]) {
      const specs = namesFiles(topology);
      for (const f of specs.filter((s): s is LinkSpec => s.kind === 'hosts')) {
        const sb = topology.sandboxes.get(f.address.slice('hosts.'.length))!;
        const shared = specs.find((s) => s.address === f.shared && s.host === f.host) as ContentSpec;
        expect(shared.body, f.address).toBe(`${[...LOCALHOST_LINES, ...hostLines(topology, sb)].join('\n')}\n`);
        expect(shared.sandboxes).toContain(sb.name);
        expect(f.target).toBe(`../.tsnet/${topology.name}/${f.shared.slice('hostsfile.'.length)}.hosts`);
      }
    }
    const specs = namesFiles(one);
    const link = (name: string) => specs.find((f) => f.address === `hosts.${name}`) as LinkSpec;
    expect(link('b').shared).toBe(link('a').shared);
    expect(link('z').shared).toBe(link('a').shared);
    expect(link('c').shared).not.toBe(link('a').shared);
    expect(link('other').shared).not.toBe(link('lonely').shared); // another host on the same machine: files apart
    const shared = specs.filter((f) => f.kind === 'hostsfile') as ContentSpec[];
    expect(shared.map((f) => `${f.host} ${f.sandboxes!.join(',')}`)).toEqual(['h0 a,b,z', 'h0 c', 'h0 d', 'h0 lonely', 'h1 other']);
    const body = shared.find((f) => f.address === link('a').shared)!.body;
    expect(body.split('\n').slice(LOCALHOST_LINES.length)).toEqual([
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
    const f = namesFiles(t).find((s) => s.kind === 'resolv') as ContentSpec;
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
  const specs = namesFiles(t);
  const link = specs.find((f) => f.kind === 'hosts') as LinkSpec;
  const shared = specs.find((f) => f.kind === 'hostsfile') as ContentSpec;
  const resolv = specs.find((f) => f.kind === 'resolv') as ContentSpec;
  const key = shared.address.slice('hostsfile.'.length);
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
  const sharedFile = (body = shared.body): KFile => ({ path: shared.path, dirExists: true, content: { head: fileText('t', shared, { madeDir: false }).head, body } });
  const linked = (target = link.target): KFile => ({ path: link.path, dirExists: true, link: target });
  const resolvFile: KFile = { path: resolv.path, dirExists: true, content: fileText('t', resolv, { madeDir: true }) };
  const upToDate = [sharedFile(), linked(), resolvFile];
  const fileSteps = (p: Plan) => p.steps.filter((s) => s.tool === 'file');
  const changes = (p: Plan) => p.changes.filter((c) => c.kind === 'hosts' || c.kind === 'hostsfile' || c.kind === 'resolv').map((c) => `${c.action} ${c.address}`);

  it('creates the shared file, the link to it (after it) and resolv.conf; the undo removes them and the directories tsnet made', () => {
    const p = planWith(nothing);
    expect(changes(p)).toEqual([`create hostsfile.${key}`, 'create hosts.a', 'create resolv.a']);
    const [file, ln] = fileSteps(p);
    // Head (marker and host lines) and body apart.
    const [head, body] = file!.do[0]!.slice(2).map((d) => Buffer.from(d, 'base64').toString());
    expect(head).toBe(`${markerLine('t', shared.address)}\n${hostLine('local')}\n`);
    expect(body).toBe(shared.body);
    expect(file!.do[0]![1]).toBe(sharedPath('t', key));
    expect(file!.undo.map((c) => c.argv.slice(0, 2))).toEqual([['remove', shared.path], ['rmdir', '/etc/netns/.tsnet/t'], ['rmdir', '/etc/netns/.tsnet']]);
    expect(ln!.do).toEqual([['link', '/etc/netns/t-a/hosts', sharedTarget('t', key), 't:hosts.a']]);
    expect(ln!.after).toContain(file!.id);
    expect(ln!.undo.map((c) => c.argv)).toEqual([['unlink', '/etc/netns/t-a/hosts', 't:hosts.a'], ['rmdir', '/etc/netns/t-a']]);
    expect(ln!.creates).toEqual([{ kind: 'file', host: 'local', ns: null, name: '/etc/netns/t-a/hosts', mark: 'hosts.a' }]);
    expect(p.changes.find((c) => c.address === 'hosts.a')!.summary).toBe(`/etc/netns/t-a/hosts -> ../.tsnet/t/${key}.hosts`);
  });

  it('in a directory that was there: the link\'s undo leaves the directory', () => {
    const p = planWith([absent('/etc/netns/t-a/hosts', true), absent('/etc/netns/t-a/resolv.conf', true), sharedFile()]);
    expect(fileSteps(p).find((s) => s.address === 'hosts.a')!.undo.map((c) => c.argv[0])).toEqual(['unlink']);
  });

  it('nothing to do when the link and the files match; a hand-edited shared file is repaired once, the undo writes back exactly what was there', () => {
    expect(fileSteps(planWith(upToDate))).toEqual([]);
    const edited = `${shared.body}198.18.0.99\tevil\n`;
    const p = planWith([sharedFile(edited), linked(), resolvFile]);
    expect(p.changes.filter((c) => c.kind === 'hostsfile').map((c) => `${c.action} ${c.address} ${c.reasons.join('; ')}`)).toEqual([`update hostsfile.${key} line 9: "198.18.0.99\\tevil" -> (no line)`]);
    const [step] = fileSteps(p);
    const { head } = fileText('t', shared, { madeDir: false });
    expect(step!.do).toEqual([['write', shared.path, b64(head), b64(shared.body)]]);
    expect(step!.undo.map((c) => c.argv)).toEqual([['write', shared.path, b64(head), b64(edited)]]);
  });

  it('a link re-pointed to another of tsnet\'s files is drift: linked again, the undo points it back; the stale file goes', () => {
    const other = `../.tsnet/t/0badc0de.hosts`;
    const stale: KFile = { path: '/etc/netns/.tsnet/t/0badc0de.hosts', dirExists: true, content: { head: `${markerLine('t', 'hostsfile.0badc0de')}\n${hostLine('local')}\n`, body: 'x\n' } };
    const p = planWith([sharedFile(), linked(other), resolvFile, stale]);
    expect(p.errors).toEqual([]);
    expect(changes(p)).toEqual(['delete hostsfile.0badc0de', 'update hosts.a']);
    const step = fileSteps(p).find((s) => s.address === 'hosts.a')!;
    expect(step.do).toEqual([['link', link.path, link.target, 't:hosts.a']]);
    expect(step.undo.map((c) => c.argv)).toEqual([['link', link.path, other, 't:hosts.a']]);
    expect(p.changes.find((c) => c.address === 'hosts.a')!.reasons).toEqual([`links to ${other}`]);
    const gone = fileSteps(p).find((s) => s.address === 'hostsfile.0badc0de')!;
    expect(gone.do.map((l) => l.slice(0, 2).join(' '))).toEqual(['remove /etc/netns/.tsnet/t/0badc0de.hosts', 'rmdir /etc/netns/.tsnet/t', 'rmdir /etc/netns/.tsnet']);
    expect(gone.undo.map((c) => c.argv)).toEqual([['write', stale.path, b64(stale.content!.head), b64('x\n')]]);
  });

  it("another host's shared file on the same machine (netns hosts share /etc/netns) is not stale here", () => {
    const theirs: KFile = { path: '/etc/netns/.tsnet/t/0badc0de.hosts', dirExists: true, content: { head: `${markerLine('t', 'hostsfile.0badc0de')}\n${hostLine('h1')}\n`, body: 'x\n' } };
    expect(fileSteps(planWith([...upToDate, theirs]))).toEqual([]);
  });

  it('destroy without the hosts\' names (destroy --name, no record): a shared file a link of this host points to is this host\'s, whatever its host line says', () => {
    const named: KFile = { ...sharedFile(), content: { head: `${markerLine('t', shared.address)}\n${hostLine('here')}\n`, body: shared.body } };
    const p = planWith([named, linked(), resolvFile], { destroy: true, namespaces: [ownedNs('t-a')] });
    expect(changes(p)).toEqual([`delete ${shared.address}`, 'delete hosts.a', 'delete resolv.a']);
  });

  it('a hosts file of an earlier tsnet (a file with the marker for hosts.a) is replaced by the link; the undo writes it back', () => {
    const old = { head: `${markerLine('t', 'hosts.a')}\n`, body: shared.body };
    const p = planWith([sharedFile(), { path: link.path, dirExists: true, content: old }, resolvFile]);
    expect(p.errors).toEqual([]);
    const step = fileSteps(p).find((s) => s.address === 'hosts.a')!;
    expect(step.do).toEqual([['link', link.path, link.target, 't:hosts.a']]);
    expect(step.undo.map((c) => c.argv)).toEqual([['write', link.path, b64(old.head), b64(old.body)]]);
  });

  it('a file tsnet did not write, or a link it did not make, is a plan error naming it, and nothing is planned for it', () => {
    const p = planWith([{ path: link.path, dirExists: true, content: splitText('127.0.0.1 localhost\n') }, nothing[1]!]);
    expect(p.errors.map((e) => `${e.address}: ${e.message}`)).toEqual([
      'hosts.a: cannot link /etc/netns/t-a/hosts: a file tsnet did not write is there (no tsnet marker on its first line); move it away or delete it first',
    ]);
    expect(fileSteps(p).map((s) => s.address)).toEqual([shared.address, 'resolv.a']);
    for (const target of ['/etc/hosts', '../../hosts', '../.tsnetx/t/0badc0de.hosts']) {
      expect(planWith([linked(target), nothing[1]!]).errors.map((e) => e.message)).toEqual([`cannot link /etc/netns/t-a/hosts: a link tsnet did not make is there (-> ${target}); move it away or delete it first`]);
    }
    const resolvLink = planWith([nothing[0]!, { path: resolv.path, dirExists: true, link: '/etc/resolv.conf' }]);
    expect(resolvLink.errors.map((e) => e.message)).toEqual(['cannot write /etc/netns/t-a/resolv.conf: a link tsnet did not make is there (-> /etc/resolv.conf); move it away or delete it first']);
  });

  it("another topology's file or link is an error too", () => {
    const p = planWith([{ path: link.path, dirExists: true, content: splitText(`${markerLine('other', 'hosts.a')}\n`) }, nothing[1]!]);
    expect(p.errors.map((e) => e.message)).toEqual(['cannot link /etc/netns/t-a/hosts: it is owned by topology "other" (hosts.a)']);
    const q = planWith([linked('../.tsnet/other/0badc0de.hosts'), nothing[1]!]);
    expect(q.errors.map((e) => e.message)).toEqual(['cannot link /etc/netns/t-a/hosts: it is a link of topology "other" (-> ../.tsnet/other/0badc0de.hosts)']);
  });

  it('destroy removes the link (then its directory when empty), the shared file and its directories; the undo puts them back', () => {
    const p = planWith(upToDate, { destroy: true, namespaces: [ownedNs('t-a')] });
    const steps = fileSteps(p);
    expect(steps.map((s) => [s.address, s.action, s.do.map((l) => l.slice(0, 2).join(' '))])).toEqual([
      [shared.address, 'delete', [`remove ${shared.path}`, 'rmdir /etc/netns/.tsnet/t', 'rmdir /etc/netns/.tsnet']],
      ['hosts.a', 'delete', ['unlink /etc/netns/t-a/hosts', 'rmdir /etc/netns/t-a']],
      ['resolv.a', 'delete', ['remove /etc/netns/t-a/resolv.conf', 'rmdir /etc/netns/t-a']],
    ]);
    expect(steps.every((s) => s.isDeletion)).toBe(true);
    expect(steps[1]!.undo.map((c) => c.argv)).toEqual([['link', link.path, link.target, 't:hosts.a']]);
    const content = resolvFile.content!;
    expect(steps[2]!.undo.map((c) => c.argv)).toEqual([['write', resolv.path, b64(content.head), b64(content.body)]]);
  });

  it("links in namespaces of another topology or host are not this plan's", () => {
    const p = planWith([linked()], { destroy: true, namespaces: [ownedNs('t-a', 'other')] });
    expect(fileSteps(p)).toEqual([]);
  });

  it('adding a sandbox to a network of many: one shared file written and one link made, the others untouched', () => {
    const sbs = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`s${i}`, { endpoints: [{ network: 'n' }] }]));
    const before = load({ networks: { n: { driver: 'bridge', subnet: '198.18.5.0/24' } }, sandboxes: sbs(50) });
    const after = load({ networks: { n: { driver: 'bridge', subnet: '198.18.5.0/24' } }, sandboxes: sbs(51) });
    const files: KFile[] = namesFiles(before).map((f) => (f.kind === 'hosts' ? { path: f.path, dirExists: true, link: f.target } : { path: f.path, dirExists: true, content: fileText('t', f, { madeDir: false }) }));
    const live: LiveState = { hosts: new Map([['local', { host: 'local', root: emptyNamespace(null), namespaces: new Map(), files: new Map(files.map((f) => [f.path, f])) }]]) };
    const p = plan({ topology: 't', hosts: ['local'], implicitHost: true, desired: expand(after), live });
    expect(changes(p)).toEqual([`update ${namesFiles(after)[0]!.address}`, 'create hosts.s50']);
    const update = p.changes.find((c) => c.kind === 'hostsfile')!;
    expect(update.summary).toBe('/etc/netns/.tsnet/t/' + update.address.slice('hostsfile.'.length) + '.hosts: localhost and 51 addresses of sandboxes, for s0, s1, s10 and 48 more');
    // One line added (s50, in name order after s5): one difference, not every line after it.
    expect(update.reasons).toEqual(['line 55: (no line) -> "198.18.5.52\\ts50 s50.t"']);
  });

  it('fileOwner reads the marker line', () => {
    expect(fileOwner(`${markerLine('t', 'hosts.a')}\nx`)).toEqual({ topology: 't', address: 'hosts.a' });
    expect(fileOwner('# tsnet is nice\n')).toBeUndefined();
  });
});

describe('names files when namespaces are swapped between sandboxes', () => {
  it("a file of another resource that the plan moves is written over after its removal, not refused", () => {
    const dns = { servers: ['198.18.0.53'] };
    const before = load({ sandboxes: { a: { netns: 'x', dns }, b: { netns: 'y', dns: { servers: ['198.18.0.54'] } } } });
    const after = load({ sandboxes: { a: { netns: 'y', dns }, b: { netns: 'x', dns: { servers: ['198.18.0.54'] } } } });
    const files = namesFiles(before).map((f) => (f.kind === 'hosts' ? { path: f.path, dirExists: true, link: f.target } : { path: f.path, dirExists: true, content: fileText('t', f, { madeDir: false }) }));
    const live: LiveState = { hosts: new Map([['local', { host: 'local', root: emptyNamespace(null), namespaces: new Map(), files: new Map(files.map((f) => [f.path, f])) }]]) };
    const p = plan({ topology: 't', hosts: ['local'], implicitHost: true, desired: expand(after), live });
    expect(p.errors).toEqual([]);
    const writeA = p.steps.find((s) => s.address === 'resolv.a' && s.phase === 'write')!;
    expect(writeA.do[0]![1]).toBe('/etc/netns/y/resolv.conf');
    expect(writeA.after).toContain('local|resolv.b|remove');
    // The links stay: both point to the one shared file of sandboxes on no network.
    expect(p.steps.filter((s) => s.address.startsWith('hosts.'))).toEqual([]);
  });
});
