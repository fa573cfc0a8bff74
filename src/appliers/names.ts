// Names files as resources: /etc/netns/<namespace>/hosts (`hosts.<sandbox>`) and resolv.conf
// (`resolv.<sandbox>`), which `ip netns exec` and `tsnet exec` mount over /etc. Owned by their
// first line, tsnet's marker; compared by content (a hand edit is repaired); written whole by the
// file tool (temp file and rename); the undo of every step writes back exactly what was there.
// A file without the marker is foreign: a plan error, never overwritten.
import type { FileSpec } from '../planner/desired.js';
import type { ResourcePlan } from '../planner/host-plan.js';
import type { Command, ObjectRef } from '../planner/types.js';
import { b64 } from '../executor/tools/file.js';
import { fileOwner, markerLine, type KFile } from '../state/files.js';
import { LOCALHOST_LINES } from './names-content.js';
import { perResource, type PlanContext } from './types.js';

export { fileOwner, markerLine };

const dirOf = (path: string): string => path.slice(0, path.lastIndexOf('/'));
const nsOf = (path: string): string => path.split('/')[3] ?? '';

/** The second line when tsnet made the file's directory: it goes (when empty) with the file. */
export const dirLine = (path: string): string => `# tsnet made ${dirOf(path)} for this file: it is removed with it when empty`;

/** What tsnet writes before the body: the marker line, and the directory line when it made the directory. */
const fileHead = (topology: string, spec: Pick<FileSpec, 'address' | 'path'>, opts: { madeDir: boolean }): string =>
  `${markerLine(topology, spec.address)}\n${opts.madeDir ? `${dirLine(spec.path)}\n` : ''}`;

/** The full content tsnet writes. */
export function fileContent(topology: string, spec: Pick<FileSpec, 'address' | 'path' | 'body'>, opts: { madeDir: boolean }): string {
  return fileHead(topology, spec, opts) + spec.body;
}

/**
 * content === head + body, without making that string (a hosts file at a thousand sandboxes is
 * 28 KB, and the marker's dash makes the joined copy two bytes a character).
 */
const sameContent = (content: string, head: string, body: string): boolean =>
  content.length === head.length + body.length && content.startsWith(head) && content.endsWith(body);

/** Line `i` (0 or 1) of a content, without splitting the whole of it. */
function lineAt(content: string, i: 0 | 1): string {
  let start = 0;
  if (i === 1) {
    start = content.indexOf('\n') + 1;
    if (start === 0) return '';
  }
  const end = content.indexOf('\n', start);
  return content.slice(start, end < 0 ? undefined : end);
}

const madeDir = (content: string, path: string): boolean => lineAt(content, 1) === dirLine(path);

interface Held {
  file: Owned;
}

type Owned = KFile & { content: string };

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

function held(ctx: PlanContext, address: string, want: FileSpec | undefined): Held | undefined {
  const files = ctx.view.state.files;
  if (!files) return undefined;
  const at = want ? files.get(want.path) : undefined;
  const o = at?.content === undefined ? undefined : fileOwner(at.content);
  if (at && o?.topology === ctx.topology && o.address === address) return { file: at as Owned };
  const found = ownedFiles(files).get(`${ctx.topology}:${address}`);
  return found ? { file: found } : undefined;
}

const fileRef = (host: string, path: string, address: string): ObjectRef => ({ kind: 'file', host, ns: null, name: path, mark: address });
const write = (host: string, path: string, content: string): Command => ({ host, ns: null, tool: 'file', argv: ['write', path, b64(content)] });
const removeLines = (path: string, content: string): string[][] => [['remove', path, b64(lineAt(content, 0))], ...(madeDir(content, path) ? [['rmdir', dirOf(path)]] : [])];

function remove(ctx: PlanContext, r: ResourcePlan, have: KFile & { content: string }, action: 'delete' | 'replace'): void {
  r.step({
    phase: 'remove',
    ns: null,
    tool: 'file',
    action,
    deletion: true,
    description: `remove ${have.path}`,
    do: removeLines(have.path, have.content),
    undo: [write(ctx.host, have.path, have.content)],
    deletes: [fileRef(ctx.host, have.path, r.address)],
  });
  if (action === 'delete') r.setChange('delete', have.path, ['not in the topology any more']);
}

/** Lines that differ, for the plan's reasons (a few, then how many more). */
function differences(have: string, want: string): string[] {
  const lines = (text: string) => (text.endsWith('\n') ? text.slice(0, -1) : text).split('\n');
  const a = lines(have);
  const b = lines(want);
  const show = (l: string | undefined) => (l === undefined ? '(no line)' : JSON.stringify(l));
  const out: string[] = [];
  for (let i = 0; i < Math.max(a.length, b.length); i++) if (a[i] !== b[i]) out.push(`line ${i + 1}: ${show(a[i])} -> ${show(b[i])}`);
  return out.length > 3 ? [...out.slice(0, 3), `and ${out.length - 3} more lines differ`] : out;
}

/** Lines of a hosts body after Docker's localhost lines (counted, not split: a body may hold thousands). */
function addressLines(body: string): number {
  let n = 0;
  for (let i = body.indexOf('\n'); i >= 0; i = body.indexOf('\n', i + 1)) n++;
  if (!body.endsWith('\n') && body) n++;
  return n - LOCALHOST_LINES.length;
}

function summary(spec: FileSpec): string {
  if (spec.kind === 'resolv') return `${spec.path}: ${spec.body.split('\n').filter((l) => l && !l.startsWith('#')).join(', ')}`;
  const names = addressLines(spec.body);
  return `${spec.path}: localhost and ${names} address${names === 1 ? '' : 'es'} of sandboxes`;
}

function plan(ctx: PlanContext, r: ResourcePlan, want: FileSpec | undefined): void {
  // Not read (a state captured without them, as NAT without its table): not planned.
  const files = ctx.view.state.files;
  if (!files) return;
  const have = held(ctx, r.address, want);
  if (have) r.have = { kind: want?.kind ?? r.kind, path: have.file.path, content: have.file.content };
  if (!want) {
    if (have) remove(ctx, r, have.file, 'delete');
    return;
  }
  const at = files.get(want.path);
  // A file of another resource of this topology that this plan moves or removes (namespaces
  // swapped between sandboxes) is written over once its removal (a deletion: first) has run.
  let freedBy: { address: string; madeDir: boolean } | undefined;
  if (at?.content !== undefined && at !== have?.file) {
    const owner = fileOwner(at.content);
    const other = owner?.topology === ctx.topology ? (ctx.desired.get(owner.address) as FileSpec | undefined) : undefined;
    if (owner?.topology === ctx.topology && owner.address !== r.address && other?.path !== want.path) freedBy = { address: owner.address, madeDir: madeDir(at.content, want.path) };
  }
  if (at?.content !== undefined && at !== have?.file && !freedBy) {
    const owner = fileOwner(at.content);
    r.error(
      owner
        ? `cannot write ${want.path}: it is ${owner.topology === ctx.topology ? `this topology's ${owner.address}` : `owned by topology "${owner.topology}" (${owner.address})`}`
        : `cannot write ${want.path}: a file tsnet did not write is there (no tsnet marker on its first line); move it away or delete it first`,
    );
    return;
  }
  if (have && have.file.path === want.path) {
    const head = fileHead(ctx.topology, want, { madeDir: madeDir(have.file.content, want.path) });
    if (sameContent(have.file.content, head, want.body)) return;
    const content = head + want.body;
    r.step({
      phase: 'write',
      ns: null,
      tool: 'file',
      action: 'update',
      description: `write ${want.path}`,
      do: [['write', want.path, b64(content)]],
      undo: [write(ctx.host, want.path, have.file.content)],
    });
    r.setChange('update', summary(want), differences(have.file.content, content));
    return;
  }
  if (have) remove(ctx, r, have.file, 'replace');
  const content = fileContent(ctx.topology, want, { madeDir: freedBy ? freedBy.madeDir : !(at?.dirExists ?? false) });
  r.step({
    phase: 'write',
    ns: null,
    tool: 'file',
    action: have ? 'replace' : 'create',
    description: `write ${want.path}`,
    do: [['write', want.path, b64(content)]],
    undo: removeLines(want.path, content).map((argv): Command => ({ host: ctx.host, ns: null, tool: 'file', argv })),
    creates: [fileRef(ctx.host, want.path, r.address)],
    after: [...(have ? [{ address: r.address, phase: 'remove' }] : []), ...(freedBy ? [{ address: freedBy.address, phase: 'remove' }] : [])],
  });
  r.setChange(have ? 'replace' : 'create', summary(want), have ? [`${have.file.path} -> ${want.path} (the namespace is renamed)`] : []);
}

/** The addresses of the files of this kind the host holds: ours, in namespaces this host owns or names. */
function observed(ctx: PlanContext, kind: 'hosts' | 'resolv'): string[] {
  const out: string[] = [];
  const files = ctx.view.state.files;
  if (!files) return out;
  const prefix = `${ctx.topology}:${kind}.`;
  for (const [key, f] of ownedFiles(files)) {
    if (!key.startsWith(prefix)) continue;
    const address = key.slice(ctx.topology.length + 1);
    if (ctx.view.nsAddress.has(nsOf(f.path)) || ctx.desired.has(address)) out.push(address);
  }
  return out;
}

const namesApplier = (kind: 'hosts' | 'resolv') => perResource<FileSpec>({ kind, observed: (ctx) => observed(ctx, kind), plan });

export const hostsFiles = namesApplier('hosts');
export const resolvFiles = namesApplier('resolv');
