// The plan as text for people: changes grouped per host, one line per resource with its
// symbol, the reasons below it, and terraform's summary line.
import { countChanges, SYMBOL, type Change, type Plan } from './types.js';

export interface RenderOptions {
  /** The topology file, for "No changes. The kernel matches FILE." */
  file: string;
  color?: boolean;
  /** The plan removes the whole topology (tsnet destroy). */
  destroy?: boolean;
  /** How each host is reached, for the group headers. */
  hostDescriptions?: ReadonlyMap<string, string>;
}

const paint = (on: boolean, code: string, s: string) => (on ? `\u001b[${code}m${s}\u001b[0m` : s);
const COLOR: Record<Change['action'], string> = { create: '32', update: '33', delete: '31', replace: '35' };

export function renderChange(c: Change, opts: { color?: boolean; width?: number } = {}): string {
  const color = opts.color ?? false;
  const symbol = paint(color, COLOR[c.action], SYMBOL[c.action].padStart(3));
  const lines = [`${symbol} ${paint(color, '1', c.address.padEnd(opts.width ?? c.address.length))}  ${c.summary}`];
  for (const r of c.reasons) lines.push(`      ${r}`);
  return lines.join('\n');
}

export function summaryLine(plan: Plan, opts: { file: string; destroy?: boolean }): string {
  const { file } = opts;
  if (!plan.changes.length) return opts.destroy ? `Nothing to destroy: ${file} owns nothing on the kernel.` : `No changes. The kernel matches ${file}.`;
  const n = countChanges(plan.changes);
  return `Plan: ${n.add} to add, ${n.change} to change, ${n.destroy} to destroy.`;
}

export function renderPlan(plan: Plan, opts: RenderOptions): string {
  const out: string[] = [];
  const color = opts.color ?? false;
  for (const n of plan.notes ?? []) out.push(`${paint(color, '1;33', 'Note:')} ${n}`, '');
  for (const e of plan.errors) {
    out.push(`${paint(color, '1;31', 'error')}: ${e.address}${plan.implicitHost ? '' : ` on host "${e.host}"`}: ${e.message}`);
  }
  if (plan.errors.length) {
    out.push('', `The plan has ${plan.errors.length} error${plan.errors.length === 1 ? '' : 's'}; nothing was changed.`);
    return out.join('\n');
  }
  for (const host of plan.hosts) {
    const changes = plan.changes.filter((c) => c.host === host);
    if (!changes.length) continue;
    if (!plan.implicitHost) {
      const how = opts.hostDescriptions?.get(host);
      out.push(paint(color, '1', `Host ${host}${how ? ` (${how})` : ''}:`));
    }
    const width = Math.min(40, Math.max(...changes.map((c) => c.address.length)));
    for (const c of changes) out.push(renderChange(c, { color, width }));
    out.push('');
  }
  out.push(paint(color, '1', summaryLine(plan, { file: opts.file, destroy: opts.destroy ?? false })));
  return out.join('\n');
}
