// Names files as resources, which `ip netns exec` and `tsnet exec` mount over /etc:
// - `hostsfile.<key>`: a hosts file shared by the sandboxes of one host on the same set of
//   networks, /etc/netns/.tsnet/<topology>/<key>.hosts;
// - `hosts.<sandbox>`: /etc/netns/<namespace>/hosts, a symbolic link to its shared file (adding
//   a sandbox to a network of a thousand writes one file and one link, not a thousand files);
// - `resolv.<sandbox>`: /etc/netns/<namespace>/resolv.conf, a file of its own.
// Files are owned by their first line, tsnet's marker; links by their target (inside this
// topology's shared directory). Compared by content or target (a hand edit, a re-pointed link
// is repaired); written whole by the file tool (temp file or link, then rename); the undo of
// every step puts back exactly what was there. Anything else at a path is foreign: a plan
// error, never overwritten. A shared file no link wants any more goes.
import type { ContentSpec, FileSpec, LinkSpec } from '../planner/desired.js';
import type { ResourcePlan } from '../planner/host-plan.js';
import type { Command, ObjectRef } from '../planner/types.js';
import { b64 } from '../executor/tools/file.js';
import { DIR_LINE_START, fileOwner, HOST_LINE_START, isSharedTarget, joinText, markerLine, SHARED_DIR, sharedDir, targetTopology, type FileText, type KFile } from '../state/files.js';
import { LOCALHOST_LINES } from './names-content.js';
import { perResource, type PlanContext } from './types.js';

export { fileOwner, markerLine };

const dirOf = (path: string): string => path.slice(0, path.lastIndexOf('/'));
const nsOf = (path: string): string => path.split('/')[3] ?? '';

/** The second line when tsnet made the file's directory: it goes (when empty) with the file. */
export const dirLine = (path: string): string => `${DIR_LINE_START}${dirOf(path)} for this file: it is removed with it when empty`;

/** A shared hosts file's second line: the host it is for (the hosts on one machine share /etc/netns). */
export const hostLine = (host: string): string => `${HOST_LINE_START}${host}: the hosts files of its sandboxes on the same networks link here`;

type ContentPart = Pick<ContentSpec, 'kind' | 'host' | 'address' | 'path' | 'body'>;

/** What tsnet writes before the body: the marker line, then the host line (shared files) or the directory line when it made the directory. */
function fileHead(topology: string, spec: Omit<ContentPart, 'body'>, opts: { madeDir: boolean }): string {
  const second = spec.kind === 'hostsfile' ? `${hostLine(spec.host)}\n` : opts.madeDir ? `${dirLine(spec.path)}\n` : '';
  return `${markerLine(topology, spec.address)}\n${second}`;
}

/** The text tsnet writes: head and body (the spec's own body string). */
export function fileText(topology: string, spec: ContentPart, opts: { madeDir: boolean }): FileText {
  return { head: fileHead(topology, spec, opts), body: spec.body };
}

/** Line `i` (0 or 1) of a head. */
function lineAt(head: string, i: 0 | 1): string {
  let start = 0;
  if (i === 1) {
    start = head.indexOf('\n') + 1;
    if (start === 0) return '';
  }
  const end = head.indexOf('\n', start);
  return head.slice(start, end < 0 ? undefined : end);
}

const madeDir = (text: FileText, path: string): boolean => lineAt(text.head, 1) === dirLine(path);

/** A write's argv: the head and the body apart. */
const writeArgv = (path: string, text: FileText): string[] => ['write', path, b64(text.head), b64(text.body)];

type Owned = KFile & { content: FileText };

/** The files of a read state by owner (`topology:address`, the first one found), made once per state. */
const byOwner = new WeakMap<ReadonlyMap<string, KFile>, Map<string, Owned>>();

function ownedFiles(files: ReadonlyMap<string, KFile>): Map<string, Owned> {
  let index = byOwner.get(files);
  if (index) return index;
  index = new Map();
  for (const f of files.values()) {
    const o = f.content === undefined ? undefined : fileOwner(f.content);
    const key = o && `${o.topology}:${o.address}`;
    if (key && !index.has(key)) index.set(key, f as Owned);
  }
  byOwner.set(files, index);
  return index;
}

/** The file of this resource the host holds: at its path when tsnet's for it, else wherever its marker is. */
function heldFile(ctx: PlanContext, address: string, want: ContentSpec | undefined): Owned | undefined {
  const files = ctx.view.state.files;
  if (!files) return undefined;
  const at = want ? files.get(want.path) : undefined;
  const o = at?.content === undefined ? undefined : fileOwner(at.content);
  if (at && o?.topology === ctx.topology && o.address === address) return at as Owned;
  return ownedFiles(files).get(`${ctx.topology}:${address}`);
}

const fileRef = (host: string, path: string, address: string): ObjectRef => ({ kind: 'file', host, ns: null, name: path, mark: address });
const write = (ctx: PlanContext, path: string, text: FileText): Command => ({ host: ctx.host, ns: null, tool: 'file', argv: writeArgv(path, text) });
const fileCmd = (ctx: PlanContext, argv: string[]): Command => ({ host: ctx.host, ns: null, tool: 'file', argv });

/** A removal's lines: the file, then the directories tsnet made for it (each only when empty). */
function removeLines(ctx: PlanContext, path: string, text: FileText): string[][] {
  const dirs = lineAt(text.head, 1).startsWith(HOST_LINE_START) ? [sharedDir(ctx.topology), SHARED_DIR] : madeDir(text, path) ? [dirOf(path)] : [];
  return [['remove', path, b64(lineAt(text.head, 0))], ...dirs.map((d) => ['rmdir', d])];
}

function remove(ctx: PlanContext, r: ResourcePlan, have: Owned, action: 'delete' | 'replace'): void {
  removalStep(ctx, r, { path: have.path, action, lines: removeLines(ctx, have.path, have.content), undo: write(ctx, have.path, have.content) });
}

/** The step that removes a names file or link at `path` (its lines, and what puts it back). */
function removalStep(ctx: PlanContext, r: ResourcePlan, o: { path: string; action: 'delete' | 'replace'; lines: string[][]; undo: Command }): void {
  r.step({
    phase: 'remove',
    ns: null,
    tool: 'file',
    action: o.action,
    deletion: true,
    description: `remove ${o.path}`,
    do: o.lines,
    undo: [o.undo],
    deletes: [fileRef(ctx.host, o.path, r.address)],
  });
  if (o.action === 'delete') r.setChange('delete', o.path, ['not in the topology any more']);
}

const linesOf = (text: string) => (text.endsWith('\n') ? text.slice(0, -1) : text).split('\n');

/**
 * Lines that differ, numbered from `first`: the common lines at the start and the end left out,
 * so that a line added to a long file is one difference, not every line after it.
 */
function lineDiffs(have: string, want: string, first: number): string[] {
  const a = linesOf(have);
  const b = linesOf(want);
  let p = 0;
  while (p < a.length && p < b.length && a[p] === b[p]) p++;
  let q = 0;
  while (q < a.length - p && q < b.length - p && a[a.length - 1 - q] === b[b.length - 1 - q]) q++;
  const show = (l: string | undefined) => (l === undefined ? '(no line)' : JSON.stringify(l));
  const out: string[] = [];
  for (let i = p; i < Math.max(a.length, b.length) - q; i++) {
    const x = i < a.length - q ? a[i] : undefined;
    const y = i < b.length - q ? b[i] : undefined;
    out.push(`line ${first + i}: ${show(x)} -> ${show(y)}`);
  }
  return out;
}

/** Lines that differ, for the plan's reasons (a few, then how many more). */
function differences(have: FileText, want: FileText): string[] {
  const out = lineDiffs(joinText(have), joinText(want), 1);
  return out.length > 3 ? [...out.slice(0, 3), `and ${out.length - 3} more lines differ`] : out;
}

/** Lines of a hosts body after Docker's localhost lines (counted, not split: a body may hold thousands). */
function addressLines(body: string): number {
  let n = 0;
  for (let i = body.indexOf('\n'); i >= 0; i = body.indexOf('\n', i + 1)) n++;
  if (!body.endsWith('\n') && body) n++;
  return n - LOCALHOST_LINES.length;
}


/** The plan line's summary of a file (a shared hosts file: how many addresses, for which sandboxes). */
function summary(spec: ContentSpec): string {
  if (spec.kind === 'resolv') return `${spec.path}: ${spec.body.split('\n').filter((l) => l && !l.startsWith('#')).join(', ')}`;
  const names = addressLines(spec.body);
  const who = spec.sandboxes ?? [];
  const listed = who.length > 3 ? `${who.slice(0, 3).join(', ')} and ${who.length - 3} more` : who.join(', ');
  return `${spec.path}: localhost and ${names} address${names === 1 ? '' : 'es'} of sandboxes, for ${listed}`;
}

/** Why a path is not tsnet's to write (a file or a link there that is not this resource's), or undefined. */
function foreign(ctx: PlanContext, path: string, at: KFile | undefined, verb: 'write' | 'link'): string | undefined {
  if (at?.link !== undefined) {
    const topology = targetTopology(at.link);
    if (topology !== undefined && topology !== ctx.topology) return `cannot ${verb} ${path}: it is a link of topology "${topology}" (-> ${at.link})`;
    return `cannot ${verb} ${path}: a link tsnet did not make is there (-> ${at.link}); move it away or delete it first`;
  }
  if (at?.content === undefined) return undefined;
  const owner = fileOwner(at.content);
  if (!owner) return `cannot ${verb} ${path}: a file tsnet did not write is there (no tsnet marker on its first line); move it away or delete it first`;
  return `cannot ${verb} ${path}: it is ${owner.topology === ctx.topology ? `this topology's ${owner.address}` : `owned by topology "${owner.topology}" (${owner.address})`}`;
}

/** A file of another resource of this topology at the path that this plan moves or removes (namespaces swapped between sandboxes): written over once its removal has run. */
function freedBy(ctx: PlanContext, r: ResourcePlan, want: ContentSpec, at: KFile | undefined, have: Owned | undefined): { address: string; madeDir: boolean } | undefined {
  if (at?.content === undefined || at === have) return undefined;
  const owner = fileOwner(at.content);
  if (owner?.topology !== ctx.topology || owner.address === r.address) return undefined;
  const other = ctx.desired.get(owner.address) as FileSpec | undefined;
  return other?.path !== want.path ? { address: owner.address, madeDir: madeDir(at.content, want.path) } : undefined;
}

/** A resolv.conf or a shared hosts file: a file of tsnet's, compared by content. */
function planFile(ctx: PlanContext, r: ResourcePlan, want: ContentSpec | undefined): void {
  // Not read (a state captured without them, as NAT without its table): not planned.
  const files = ctx.view.state.files;
  if (!files) return;
  const have = heldFile(ctx, r.address, want);
  // content: head + body is a rope (not copied unless someone reads it, e.g. plan --json).
  if (have) r.have = { kind: want?.kind ?? r.kind, path: have.path, content: joinText(have.content) };
  if (!want) {
    if (have) remove(ctx, r, have, 'delete');
    return;
  }
  const at = files.get(want.path);
  const freed = freedBy(ctx, r, want, at, have);
  const refused = at === have || freed ? undefined : foreign(ctx, want.path, at, 'write');
  if (refused) return r.error(refused);
  if (have && have.path === want.path) {
    const text = fileText(ctx.topology, want, { madeDir: madeDir(have.content, want.path) });
    // Head and body compared apart.
    if (have.content.head === text.head && have.content.body === text.body) return;
    r.step({ phase: 'write', ns: null, tool: 'file', action: 'update', description: `write ${want.path}`, do: [writeArgv(want.path, text)], undo: [write(ctx, want.path, have.content)] });
    r.setChange('update', summary(want), differences(have.content, text));
    return;
  }
  if (have) remove(ctx, r, have, 'replace');
  const text = fileText(ctx.topology, want, { madeDir: freed ? freed.madeDir : !(at?.dirExists ?? false) });
  r.step({
    phase: 'write',
    ns: null,
    tool: 'file',
    action: have ? 'replace' : 'create',
    description: `write ${want.path}`,
    do: [writeArgv(want.path, text)],
    undo: removeLines(ctx, want.path, text).map((argv) => fileCmd(ctx, argv)),
    creates: [fileRef(ctx.host, want.path, r.address)],
    after: [...(have ? [{ address: r.address, phase: 'remove' }] : []), ...(freed ? [{ address: freed.address, phase: 'remove' }] : [])],
  });
  r.setChange(have ? 'replace' : 'create', summary(want), have ? [`${have.path} -> ${want.path} (the namespace is renamed)`] : []);
}

/** A hosts path's link (or, from an earlier tsnet, its file) that is this topology's. */
type HeldLink = KFile & ({ link: string } | { content: FileText });

/**
 * The hosts links (and files with a hosts marker) of this topology by address, made once per
 * view: a link at a path the file wants is that sandbox's; any other is its namespace's sandbox's.
 */
const linksOf = new WeakMap<object, Map<string, HeldLink>>();

function heldLinks(ctx: PlanContext): Map<string, HeldLink> {
  let index = linksOf.get(ctx.view);
  if (index) return index;
  index = new Map();
  const byPath = new Map<string, string>();
  for (const s of ctx.desired.values()) if (s.kind === 'hosts') byPath.set(s.path, s.address);
  for (const f of ctx.view.state.files?.values() ?? []) {
    if (!f.path.endsWith('/hosts')) continue;
    let address: string | undefined;
    if (f.link !== undefined) {
      if (!isSharedTarget(f.link, ctx.topology)) continue;
      const sandbox = ctx.view.nsAddress.get(nsOf(f.path));
      address = byPath.get(f.path) ?? (sandbox?.startsWith('sandbox.') ? `hosts.${sandbox.slice('sandbox.'.length)}` : undefined);
    } else if (f.content !== undefined) {
      const o = fileOwner(f.content);
      if (o?.topology === ctx.topology && o.address.startsWith('hosts.')) address = o.address;
    }
    if (address && !index.has(address)) index.set(address, f as HeldLink);
  }
  linksOf.set(ctx.view, index);
  return index;
}

const owner = (ctx: PlanContext, address: string): string => `${ctx.topology}:${address}`;
const linkArgv = (ctx: PlanContext, r: ResourcePlan, path: string, target: string): string[] => ['link', path, target, owner(ctx, r.address)];

/** What puts a held link (or file) back. */
function restoreLink(ctx: PlanContext, r: ResourcePlan, have: HeldLink): Command {
  return 'link' in have && have.link !== undefined ? fileCmd(ctx, linkArgv(ctx, r, have.path, have.link)) : write(ctx, have.path, (have as Owned).content);
}

/**
 * Removing a link: the link, then its directory when empty (tsnet's links and resolv.conf are
 * all a namespace's directory holds when tsnet made it; a directory with anything else stays).
 */
function removeLink(ctx: PlanContext, r: ResourcePlan, have: HeldLink, action: 'delete' | 'replace'): void {
  const lines = [['unlink', have.path, owner(ctx, r.address)], ['rmdir', dirOf(have.path)]];
  removalStep(ctx, r, { path: have.path, action, lines, undo: restoreLink(ctx, r, have) });
}

/** A sandbox's hosts: a link to its shared file, compared by target. */
function planLink(ctx: PlanContext, r: ResourcePlan, want: LinkSpec | undefined): void {
  const files = ctx.view.state.files;
  if (!files) return;
  const have = heldLinks(ctx).get(r.address);
  if (have) r.have = { kind: 'hosts', path: have.path, ...(have.link !== undefined ? { target: have.link } : { content: joinText((have as Owned).content) }) };
  if (!want) {
    if (have) removeLink(ctx, r, have, 'delete');
    return;
  }
  const at = files.get(want.path);
  const refused = at === have ? undefined : foreign(ctx, want.path, at, 'link');
  if (refused) return r.error(refused);
  const shared = [{ address: want.shared, phase: 'write' }];
  const summaryLine = `${want.path} -> ${want.target}`;
  if (have && have.path === want.path) {
    if (have.link === want.target) return;
    r.step({ phase: 'write', ns: null, tool: 'file', action: 'update', description: `link ${want.path}`, do: [linkArgv(ctx, r, want.path, want.target)], undo: [restoreLink(ctx, r, have)], after: shared });
    r.setChange('update', summaryLine, [have.link !== undefined ? `links to ${have.link}` : 'a file, not a link to the shared file']);
    return;
  }
  if (have) removeLink(ctx, r, have, 'replace');
  const undo = [fileCmd(ctx, ['unlink', want.path, owner(ctx, r.address)]), ...(at?.dirExists ? [] : [fileCmd(ctx, ['rmdir', dirOf(want.path)])])];
  r.step({
    phase: 'write',
    ns: null,
    tool: 'file',
    action: have ? 'replace' : 'create',
    description: `link ${want.path}`,
    do: [linkArgv(ctx, r, want.path, want.target)],
    undo,
    creates: [fileRef(ctx.host, want.path, r.address)],
    after: [...shared, ...(have ? [{ address: r.address, phase: 'remove' }] : [])],
  });
  r.setChange(have ? 'replace' : 'create', summaryLine, have ? [`${have.path} -> ${want.path} (the namespace is renamed)`] : []);
}

/**
 * The names of the shared files this host's links point to: a shared file is this host's by its
 * host line, or when a link of this host points to it (destroy --name without the record of the
 * last apply does not know the hosts' names, only their namespaces).
 */
function linkedHere(ctx: PlanContext): Set<string> {
  const out = new Set<string>();
  for (const f of heldLinks(ctx).values()) if (f.link !== undefined) out.add(f.link.slice(f.link.lastIndexOf('/') + 1));
  return out;
}

/** The addresses of the files of this kind the host holds: ours, in namespaces this host owns or names (shared files: those for this host). */
function observed(ctx: PlanContext, kind: 'hostsfile' | 'resolv'): string[] {
  const out: string[] = [];
  const files = ctx.view.state.files;
  if (!files) return out;
  const prefix = `${ctx.topology}:${kind}.`;
  for (const [key, f] of ownedFiles(files)) {
    if (!key.startsWith(prefix)) continue;
    const address = key.slice(ctx.topology.length + 1);
    const mine = kind === 'hostsfile' ? lineAt(f.content.head, 1) === hostLine(ctx.host) || linkedHere(ctx).has(f.path.slice(f.path.lastIndexOf('/') + 1)) : ctx.view.nsAddress.has(nsOf(f.path));
    if (mine || ctx.desired.has(address)) out.push(address);
  }
  return out;
}

export const sharedHostsFiles = perResource<ContentSpec>({ kind: 'hostsfile', observed: (ctx) => observed(ctx, 'hostsfile'), plan: planFile });
export const hostsLinks = perResource<LinkSpec>({ kind: 'hosts', observed: (ctx) => heldLinks(ctx).keys(), plan: planLink });
export const resolvFiles = perResource<ContentSpec>({ kind: 'resolv', observed: (ctx) => observed(ctx, 'resolv'), plan: planFile });
