// Names files as resources: /etc/netns/<namespace>/hosts (`hosts.<sandbox>`) and resolv.conf
// (`resolv.<sandbox>`), which `ip netns exec` and `tsnet exec` mount over /etc. Owned by their
// first line, tsnet's marker; compared by content (a hand edit is repaired); written whole by the
// file tool (temp file and rename); the undo of every step writes back exactly what was there.
// A file without the marker is foreign: a plan error, never overwritten.
import type { FileSpec } from '../planner/desired.js';
import type { ResourcePlan } from '../planner/host-plan.js';
import type { Command, ObjectRef } from '../planner/types.js';
import { b64 } from '../executor/tools/file.js';
import type { KFile } from '../state/files.js';
import { perResource, type PlanContext } from './types.js';

const MARKER = /^# tsnet:([^:\s]+):(\S+) /;

/** The first line of every names file tsnet writes: whose it is. */
export const markerLine = (topology: string, address: string): string => `# tsnet:${topology}:${address} — managed by tsnet, edits are replaced`;

const dirOf = (path: string): string => path.slice(0, path.lastIndexOf('/'));
const nsOf = (path: string): string => path.split('/')[3] ?? '';

/** The second line when tsnet made the file's directory: it goes (when empty) with the file. */
export const dirLine = (path: string): string => `# tsnet made ${dirOf(path)} for this file: it is removed with it when empty`;

/** Whose a file is, from its first line: undefined when it has no tsnet marker. */
export function fileOwner(content: string): { topology: string; address: string } | undefined {
  const m = MARKER.exec(content);
  return m ? { topology: m[1]!, address: m[2]! } : undefined;
}

/** The full content tsnet writes. */
export function fileContent(topology: string, spec: Pick<FileSpec, 'address' | 'path' | 'body'>, opts: { madeDir: boolean }): string {
  return `${markerLine(topology, spec.address)}\n${opts.madeDir ? `${dirLine(spec.path)}\n` : ''}${spec.body}`;
}

const madeDir = (content: string, path: string): boolean => content.split('\n')[1] === dirLine(path);

interface Held {
  file: KFile & { content: string };
}

function held(ctx: PlanContext, address: string, want: FileSpec | undefined): Held | undefined {
  const files = ctx.view.state.files;
  if (!files) return undefined;
  const at = want ? files.get(want.path) : undefined;
  const ours = (f: KFile): f is KFile & { content: string } => {
    const o = f.content === undefined ? undefined : fileOwner(f.content);
    return o?.topology === ctx.topology && o.address === address;
  };
  if (at && ours(at)) return { file: at };
  for (const f of files.values()) if (ours(f)) return { file: f };
  return undefined;
}

const fileRef = (host: string, path: string, address: string): ObjectRef => ({ kind: 'file', host, ns: null, name: path, mark: address });
const write = (host: string, path: string, content: string): Command => ({ host, ns: null, tool: 'file', argv: ['write', path, b64(content)] });
const removeLines = (path: string, content: string): string[][] => [['remove', path, b64(content.split('\n')[0]!)], ...(madeDir(content, path) ? [['rmdir', dirOf(path)]] : [])];

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

function summary(spec: FileSpec): string {
  const lines = spec.body.split('\n').filter((l) => l && !l.startsWith('#'));
  if (spec.kind === 'resolv') return `${spec.path}: ${lines.join(', ')}`;
  const names = lines.filter((l) => !/^(127\.0\.0\.1|::1|fe00::0|ff0[02]::)/.test(l)).length;
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
    const content = fileContent(ctx.topology, want, { madeDir: madeDir(have.file.content, want.path) });
    if (content === have.file.content) return;
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
  for (const f of ctx.view.state.files?.values() ?? []) {
    const o = f.content === undefined ? undefined : fileOwner(f.content);
    if (o?.topology !== ctx.topology || !o.address.startsWith(`${kind}.`)) continue;
    if (ctx.view.nsAddress.has(nsOf(f.path)) || ctx.desired.has(o.address)) out.push(o.address);
  }
  return out;
}

const namesApplier = (kind: 'hosts' | 'resolv') => perResource<FileSpec>({ kind, observed: (ctx) => observed(ctx, kind), plan });

export const hostsFiles = namesApplier('hosts');
export const resolvFiles = namesApplier('resolv');
