// Names files as resources: /etc/netns/<namespace>/hosts (`hosts.<sandbox>`) and resolv.conf
// (`resolv.<sandbox>`), which `ip netns exec` and `tsnet exec` mount over /etc. Owned by their
// first line, tsnet's marker; compared by content (a hand edit is repaired); written whole by the
// file tool (temp file and rename); the undo of every step writes back exactly what was there.
// A file without the marker is foreign: a plan error, never overwritten.
import type { FileSpec } from '../planner/desired.js';
import type { ResourcePlan } from '../planner/host-plan.js';
import type { Command, ObjectRef } from '../planner/types.js';
import { b64 } from '../executor/tools/file.js';
import { DIR_LINE_START, fileOwner, joinText, markerLine, type FileText, type KFile } from '../state/files.js';
import { LOCALHOST_LINES } from './names-content.js';
import { perResource, type PlanContext } from './types.js';

export { fileOwner, markerLine };

const dirOf = (path: string): string => path.slice(0, path.lastIndexOf('/'));
const nsOf = (path: string): string => path.split('/')[3] ?? '';

/** The second line when tsnet made the file's directory: it goes (when empty) with the file. */
export const dirLine = (path: string): string => `${DIR_LINE_START}${dirOf(path)} for this file: it is removed with it when empty`;

/** What tsnet writes before the body: the marker line, and the directory line when it made the directory. */
const fileHead = (topology: string, spec: Pick<FileSpec, 'address' | 'path'>, opts: { madeDir: boolean }): string =>
  `${markerLine(topology, spec.address)}\n${opts.madeDir ? `${dirLine(spec.path)}\n` : ''}`;

/** The text tsnet writes: head and body (the spec's own body string, shared between specs). */
export function fileText(topology: string, spec: Pick<FileSpec, 'address' | 'path' | 'body'>, opts: { madeDir: boolean }): FileText {
  return { head: fileHead(topology, spec, opts), body: spec.body };
}

/** The full content tsnet writes, as one string (for people and tests). */
export function fileContent(topology: string, spec: Pick<FileSpec, 'address' | 'path' | 'body'>, opts: { madeDir: boolean }): string {
  return joinText(fileText(topology, spec, opts));
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

/**
 * Per plan (its desired map), what is made once for many files: the base64 of each distinct
 * body (a thousand steps carry one string), the differences between two bodies, a body's lines.
 */
interface Shared {
  b64: Map<string, string>;
  diffs: Map<string, Map<string, string[]>>;
  /** A hosts body's address lines, counted once. */
  lines: Map<string, number>;
}

const sharedOf = new WeakMap<object, Shared>();

function shared(ctx: PlanContext): Shared {
  let s = sharedOf.get(ctx.desired);
  if (!s) sharedOf.set(ctx.desired, (s = { b64: new Map(), diffs: new Map(), lines: new Map() }));
  return s;
}

function bodyB64(ctx: PlanContext, body: string): string {
  const memo = shared(ctx).b64;
  let data = memo.get(body);
  if (data === undefined) memo.set(body, (data = b64(body)));
  return data;
}

/** A write's argv: the head and the body apart (the body's base64 shared). */
const writeArgv = (ctx: PlanContext, path: string, text: FileText): string[] => ['write', path, b64(text.head), bodyB64(ctx, text.body)];

interface Held {
  file: Owned;
}

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
const write = (ctx: PlanContext, path: string, text: FileText): Command => ({ host: ctx.host, ns: null, tool: 'file', argv: writeArgv(ctx, path, text) });
const removeLines = (path: string, text: FileText): string[][] => [['remove', path, b64(lineAt(text.head, 0))], ...(madeDir(text, path) ? [['rmdir', dirOf(path)]] : [])];

function remove(ctx: PlanContext, r: ResourcePlan, have: Owned, action: 'delete' | 'replace'): void {
  r.step({
    phase: 'remove',
    ns: null,
    tool: 'file',
    action,
    deletion: true,
    description: `remove ${have.path}`,
    do: removeLines(have.path, have.content),
    undo: [write(ctx, have.path, have.content)],
    deletes: [fileRef(ctx.host, have.path, r.address)],
  });
  if (action === 'delete') r.setChange('delete', have.path, ['not in the topology any more']);
}

const linesOf = (text: string) => (text.endsWith('\n') ? text.slice(0, -1) : text).split('\n');

/** Lines that differ, numbered from `first`. */
function lineDiffs(have: string, want: string, first: number): string[] {
  const a = linesOf(have);
  const b = linesOf(want);
  const show = (l: string | undefined) => (l === undefined ? '(no line)' : JSON.stringify(l));
  const out: string[] = [];
  for (let i = 0; i < Math.max(a.length, b.length); i++) if (a[i] !== b[i]) out.push(`line ${first + i}: ${show(a[i])} -> ${show(b[i])}`);
  return out;
}

const newlines = (text: string): number => {
  let n = 0;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) n++;
  return n;
};

/**
 * Lines that differ, for the plan's reasons (a few, then how many more). Heads with the same
 * number of whole lines are compared apart from the bodies, and the bodies' differences made
 * once per pair of bodies (a thousand files with the same old and new body: one comparison).
 */
function differences(ctx: PlanContext, have: FileText, want: FileText): string[] {
  const shown = (out: string[]) => (out.length > 3 ? [...out.slice(0, 3), `and ${out.length - 3} more lines differ`] : out);
  const headLines = newlines(want.head);
  if (newlines(have.head) !== headLines || !have.head.endsWith('\n') || !want.head.endsWith('\n')) return shown(lineDiffs(joinText(have), joinText(want), 1));
  const memo = shared(ctx).diffs;
  let byWant = memo.get(have.body);
  if (!byWant) memo.set(have.body, (byWant = new Map()));
  let body = byWant.get(want.body);
  if (!body) byWant.set(want.body, (body = have.body === want.body ? [] : lineDiffs(have.body, want.body, 1)));
  const heads = have.head === want.head ? [] : lineDiffs(have.head, want.head, 1);
  // Only the lines shown are numbered again (a body can differ in a thousand lines).
  const renumbered = body.slice(0, Math.max(0, 3 - heads.length)).map((d) => d.replace(/^line (\d+)/, (_, n: string) => `line ${Number(n) + headLines}`));
  const total = heads.length + body.length;
  const out = [...heads, ...renumbered];
  return total > 3 ? [...out.slice(0, 3), `and ${total - 3} more lines differ`] : out;
}

/** Lines of a hosts body after Docker's localhost lines (counted, not split: a body may hold thousands). */
function addressLines(body: string): number {
  let n = 0;
  for (let i = body.indexOf('\n'); i >= 0; i = body.indexOf('\n', i + 1)) n++;
  if (!body.endsWith('\n') && body) n++;
  return n - LOCALHOST_LINES.length;
}

function summary(ctx: PlanContext, spec: FileSpec): string {
  if (spec.kind === 'resolv') return `${spec.path}: ${spec.body.split('\n').filter((l) => l && !l.startsWith('#')).join(', ')}`;
  const counts = shared(ctx).lines;
  let names = counts.get(spec.body);
  if (names === undefined) counts.set(spec.body, (names = addressLines(spec.body)));
  return `${spec.path}: localhost and ${names} address${names === 1 ? '' : 'es'} of sandboxes`;
}

function plan(ctx: PlanContext, r: ResourcePlan, want: FileSpec | undefined): void {
  // Not read (a state captured without them, as NAT without its table): not planned.
  const files = ctx.view.state.files;
  if (!files) return;
  const have = held(ctx, r.address, want);
  // content: head + body is a rope (not copied unless someone reads it, e.g. plan --json).
  if (have) r.have = { kind: want?.kind ?? r.kind, path: have.file.path, content: joinText(have.file.content) };
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
    const text = fileText(ctx.topology, want, { madeDir: madeDir(have.file.content, want.path) });
    // Head and body compared apart (equal bodies are often one string: then no comparison at all).
    if (have.file.content.head === text.head && have.file.content.body === text.body) return;
    r.step({
      phase: 'write',
      ns: null,
      tool: 'file',
      action: 'update',
      description: `write ${want.path}`,
      do: [writeArgv(ctx, want.path, text)],
      undo: [write(ctx, want.path, have.file.content)],
    });
    r.setChange('update', summary(ctx, want), differences(ctx, have.file.content, text));
    return;
  }
  if (have) remove(ctx, r, have.file, 'replace');
  const text = fileText(ctx.topology, want, { madeDir: freedBy ? freedBy.madeDir : !(at?.dirExists ?? false) });
  r.step({
    phase: 'write',
    ns: null,
    tool: 'file',
    action: have ? 'replace' : 'create',
    description: `write ${want.path}`,
    do: [writeArgv(ctx, want.path, text)],
    undo: removeLines(want.path, text).map((argv): Command => ({ host: ctx.host, ns: null, tool: 'file', argv })),
    creates: [fileRef(ctx.host, want.path, r.address)],
    after: [...(have ? [{ address: r.address, phase: 'remove' }] : []), ...(freedBy ? [{ address: freedBy.address, phase: 'remove' }] : [])],
  });
  r.setChange(have ? 'replace' : 'create', summary(ctx, want), have ? [`${have.file.path} -> ${want.path} (the namespace is renamed)`] : []);
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
