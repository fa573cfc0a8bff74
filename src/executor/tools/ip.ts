// `ip -batch -`: one process per namespace and round. Batches in the host's own stack carry a
// progress marker after each step (ip exits 255 on some argument errors without naming the
// line; the markers printed tell how many steps finished). The last batch of a namespace reads
// it back. Batches in sandbox namespaces go out together through `xargs` workers.
import type { JournalStep, ObjectRef, Step } from '../../planner/types.js';
import { runInNamespaces } from '../../state/fanout.js';
import { parseMark } from '../../state/ownership.js';
import { READ_FLAGS, READ_LINES } from '../../state/read.js';
import type { Runner } from '../../state/runner.js';
import { batchLine, forceBatch, inputOf, linesOf, outcomeOf, withMarkers, type Line } from './stdin-batch.js';
import type { Batch, BatchOutcome, RunManyOptions, ToolModule } from './types.js';

/** The marker line: cheap, prints one line under -json, and lo is in every namespace. */
const MARKER = 'link show dev lo';

async function run(runner: Runner, batch: Batch, opts: { readBack: boolean }): Promise<BatchOutcome> {
  const lines = withMarkers(linesOf(batch, batchLine), MARKER);
  const argv = ['ip', ...(opts.readBack ? READ_FLAGS : ['-json']), '-batch', '-'];
  const res = await runner.run(argv, { ns: batch.ns, input: inputOf(lines, opts.readBack ? READ_LINES : []) });
  const outcome = outcomeOf(batch, lines, res, { readBack: opts.readBack, argv });
  // A link deletion that finds the link already gone has nothing left to do: the kernel took it
  // with its namespace (veths go with their namespace, in the background). That step is done;
  // the batch goes on after it.
  const f = outcome.failure;
  if (f && !outcome.partial && f.step.do.length === 1 && deletesLinkNamed(f.step, f.error)) {
    const rest = batch.steps.slice(batch.steps.indexOf(f.step) + 1);
    const again = rest.length ? await run(runner, { ...batch, steps: rest }, opts) : { done: [] };
    return { ...again, done: [...outcome.done, f.step, ...again.done] };
  }
  return outcome;
}

/** True when the step deletes one link, by name, and ip says that it does not exist (any more). */
function deletesLinkNamed(step: Step, error: string): boolean {
  const target = step.deletes[0];
  if (!target || target.kind !== 'link' || step.deletes.some((o) => o.kind !== 'link')) return false;
  return error.includes(`Cannot find device "${target.name}"`) || (error.includes('No such device') && !/Cannot find device/.test(error));
}

async function runMany(runner: Runner, batches: readonly Batch[], opts: RunManyOptions): Promise<BatchOutcome[]> {
  const prepared = batches.map((b) => ({ batch: b, readBack: opts.readBack(b), lines: linesOf(b, batchLine) }));
  opts.starting();
  const results = await runInNamespaces(
    runner,
    READ_FLAGS,
    prepared.map((p) => ({ ns: p.batch.ns!, input: inputOf(p.lines, p.readBack ? READ_LINES : []), outputLines: p.readBack ? READ_LINES.length : 0 })),
    opts.concurrency,
    false,
  );
  return prepared.map((p, i) => outcomeOf(p.batch, p.lines as Line[], results[i]!, { readBack: p.readBack, argv: ['ip', ...READ_FLAGS, '-batch', '-'] }));
}

export const ip: ToolModule = {
  name: 'ip',
  program: 'ip',
  line: batchLine,
  readsBack: true,
  chunks: true,
  run,
  runMany,
  undo: (runner, host, ns, argvs) => forceBatch(runner, 'ip', host, ns, argvs),
};

/**
 * What a step of a journal written before steps carried their objects (version 2 and older)
 * made and marked, read from its ip lines as those versions wrote them. Only for adopting what
 * such a killed run left; every newer step says it as data.
 */
export function legacyObjects(step: { host: string; ns: string | null; tool: string; address: string; do: string[][] }): Pick<JournalStep, 'creates' | 'marks'> {
  const creates: ObjectRef[] = [];
  const marks: ObjectRef[] = [];
  if (step.tool !== 'ip') return { creates, marks };
  const link = (ns: string | null, name: string, mark: string, linkKind?: string): ObjectRef => ({ kind: 'link', host: step.host, ns, name, mark, ...(linkKind ? { linkKind } : {}) });
  const after = (l: readonly string[], word: string) => (l.includes(word) ? l[l.indexOf(word) + 1] : undefined);
  for (const l of step.do) {
    if (l[0] === 'netns' && l[1] === 'add' && l[2]) creates.push({ kind: 'netns', host: step.host, ns: null, name: l[2], mark: step.address });
    if (l[0] === 'link' && l[1] === 'set' && l[2] && l[3] === 'alias') {
      const m = parseMark(l[4]);
      if (m && l[2] === 'lo' && step.ns) marks.push({ kind: 'netns', host: step.host, ns: null, name: step.ns, mark: m.address });
      else if (m && l[2] !== 'lo') marks.push(link(step.ns, l[2], m.address));
      continue;
    }
    if (l[0] !== 'link' || l[1] !== 'add') continue;
    const type = after(l, 'type');
    const inner = after(l, 'name');
    const innerNs = after(l, 'netns') ?? step.ns;
    if (l[2] === 'link') {
      if (inner) creates.push(link(innerNs, inner, step.address, type));
    } else if (type === 'veth') {
      creates.push(link(step.ns, l[2]!, `${step.address}/peer`, 'veth'));
      if (inner) creates.push(link(innerNs, inner, step.address, 'veth'));
    } else if (l[2]) creates.push(link(step.ns, l[2], type === 'vxlan' ? `${step.address}/vxlan` : step.address, type));
  }
  return { creates, marks };
}
