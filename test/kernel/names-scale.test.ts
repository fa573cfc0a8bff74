// Names files at scale against the lab's /etc/netns: hosts files grow with the square of the
// sandboxes on a network (300 sandboxes: 300 files of 300 lines). Repairing all of them once
// failed: the file batch ran several processes per file and outgrew its time limit (the
// command limit plus 10 ms per line), so the apply was rolled back. A file batch must cost no
// process per file on this machine: it fits even a limit of 1 ms plus 10 ms per line. The
// in-process operations answer exactly as the script an ssh host runs, file for file.
import { existsSync, lstatSync, mkdirSync, readlinkSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { markerLine } from '../../src/appliers/names.js';
import { b64, fileLine, fileOp, fileScriptArgv } from '../../src/executor/tools/file.js';
import { readFiles, splitText } from '../../src/state/files.js';
import { LOCAL_FILES } from '../../src/state/local-files.js';
import { TOOLS } from '../../src/executor/tools/index.js';
import type { Batch } from '../../src/executor/tools/types.js';
import type { Step } from '../../src/planner/types.js';
import { LocalRunner } from '../../src/state/runner.js';
import { describeInLab } from '../support/lab.js';

const N = 300;
const TOPOLOGY = 'kns';
const dirs = () => readdirSync('/etc/netns').filter((d) => d.startsWith(`${TOPOLOGY}-`));
const path = (i: number) => `/etc/netns/${TOPOLOGY}-s${i}/hosts`;
/** A hosts file of sandbox i: the marker, then a line per sandbox (the `extra` line: drift). */
const content = (i: number, extra = '') =>
  `${markerLine(TOPOLOGY, `hosts.s${i}`)}\n${Array.from({ length: N }, (_, j) => `198.18.${j >> 8}.${j & 255}\ts${j} s${j}.${TOPOLOGY}`).join('\n')}\n${extra}`;

/** The base64 of each distinct body, made once (as the planner does: the steps share it). */
const bodies = new Map<string, string>();
const writeArgv = (i: number, text: string): string[] => {
  const { head, body } = splitText(text);
  if (!bodies.has(body)) bodies.set(body, b64(body));
  return ['write', path(i), b64(head), bodies.get(body)!];
};

function writeStep(i: number, next: string, prev: string | undefined): Step {
  return {
    id: `local|hosts.s${i}|write`,
    host: 'local',
    address: `hosts.s${i}`,
    phase: 'write',
    ns: null,
    tool: 'file',
    action: prev === undefined ? 'create' : 'update',
    isDeletion: false,
    description: `write ${path(i)}`,
    do: [writeArgv(i, next)],
    undo: prev === undefined ? [{ host: 'local', ns: null, tool: 'file', argv: ['remove', path(i), b64(markerLine(TOPOLOGY, `hosts.s${i}`))] }] : [{ host: 'local', ns: null, tool: 'file', argv: writeArgv(i, prev) }],
    creates: [],
    deletes: [],
    marks: [],
    after: [],
  };
}

const batch = (steps: Step[]): Batch => ({ host: 'local', ns: null, tool: 'file', level: 0, steps });

describeInLab('names files at scale', () => {
  const limit = process.env.TSNET_COMMAND_TIMEOUT;
  beforeAll(() => {
    for (const d of dirs()) rmSync(`/etc/netns/${d}`, { recursive: true });
    process.env.TSNET_COMMAND_TIMEOUT = '1ms';
  });
  afterAll(() => {
    if (limit === undefined) delete process.env.TSNET_COMMAND_TIMEOUT;
    else process.env.TSNET_COMMAND_TIMEOUT = limit;
    for (const d of dirs()) rmSync(`/etc/netns/${d}`, { recursive: true });
  });

  it(`writes ${N} hosts files of ${N} lines, then repairs all of them in one batch, within 1 ms plus 10 ms per line`, async () => {
    const runner = new LocalRunner('local');
    const idx = Array.from({ length: N }, (_, i) => i);
    // Every file as a hand edit left it (a line added), then the repair writes each back whole.
    const drifted = idx.map((i) => content(i, '198.51.100.9\tintruder\n'));
    const made = await TOOLS.file.run(runner, batch(idx.map((i) => writeStep(i, drifted[i]!, undefined))), { readBack: false });
    expect(made.failure).toBeUndefined();
    expect(made.done.length).toBe(N);
    expect(dirs().length).toBe(N);
    const repaired = await TOOLS.file.run(runner, batch(idx.map((i) => writeStep(i, content(i), drifted[i]!))), { readBack: false });
    expect(repaired.failure).toBeUndefined();
    expect(repaired.done.length).toBe(N);
    for (const i of idx) expect(readFileSync(path(i), 'utf8')).toBe(content(i));
    // Their undo (a rollback) writes back exactly what was there, also within the limit.
    const errors = await TOOLS.file.undo(runner, 'local', null, idx.map((i) => writeArgv(i, drifted[i]!)));
    expect(errors).toEqual([]);
    for (const i of idx) expect(readFileSync(path(i), 'utf8')).toBe(drifted[i]);
  });

  it(`links ${N} hosts paths to one shared file in one batch (what an apply of ${N} sandboxes on a network does), and undoes them, within the same limit`, async () => {
    for (const d of dirs()) rmSync(`/etc/netns/${d}`, { recursive: true });
    const runner = new LocalRunner('local');
    const idx = Array.from({ length: N }, (_, i) => i);
    const target = `../.tsnet/${TOPOLOGY}/0123abcd.hosts`;
    const step = (i: number): Step => ({ ...writeStep(i, content(i), undefined), do: [['link', path(i), target, `${TOPOLOGY}:hosts.s${i}`]], undo: [] });
    const made = await TOOLS.file.run(runner, batch(idx.map(step)), { readBack: false });
    expect(made.failure).toBeUndefined();
    expect(made.done.length).toBe(N);
    for (const i of idx) expect(readlinkSync(path(i))).toBe(target);
    const errors = await TOOLS.file.undo(runner, 'local', null, idx.flatMap((i) => [['unlink', path(i), `${TOPOLOGY}:hosts.s${i}`], ['rmdir', `/etc/netns/${TOPOLOGY}-s${i}`]]));
    expect(errors).toEqual([]);
    expect(dirs()).toEqual([]);
  });
});

/** Every file under /etc/netns/<prefix>* with its content (directories as ""), keyed without the prefix. */
function tree(prefix: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const d of readdirSync('/etc/netns').filter((x) => x.startsWith(prefix))) {
    const rest = d.slice(prefix.length);
    out[`${rest}/`] = '';
    for (const f of readdirSync(`/etc/netns/${d}`)) {
      const at = `/etc/netns/${d}/${f}`;
      out[`${rest}/${f}`] = lstatSync(at).isSymbolicLink() ? `-> ${readlinkSync(at)}` : readFileSync(at, 'utf8');
    }
  }
  return out;
}

describeInLab('names file operations: in-process and the ssh hosts\' script agree', () => {
  const clean = () => {
    for (const d of readdirSync('/etc/netns').filter((x) => x.startsWith('knq'))) rmSync(`/etc/netns/${d}`, { recursive: true });
  };
  beforeAll(clean);
  afterAll(clean);

  it('writes, refusals (a foreign file, another owner\'s, a link), removals and rmdir answer the same and leave the same files', async () => {
    const runner = new LocalRunner('local');
    const results: Record<string, unknown> = {};
    for (const side of ['script', 'local'] as const) {
      const ns = (x: string) => `knq${side[0]}-${x}`;
      const p = (x: string, f = 'hosts') => `/etc/netns/${ns(x)}/${f}`;
      const mine = (x: string, body: string) => `${markerLine('knq', `hosts.${x}`)}\n${body}`;
      mkdirSync(`/etc/netns/${ns('foreign')}`);
      writeFileSync(p('foreign'), '198.18.96.7 mine\n');
      mkdirSync(`/etc/netns/${ns('link')}`);
      symlinkSync('/etc/netns/nowhere', p('link'));
      mkdirSync(`/etc/netns/${ns('full')}`);
      writeFileSync(`/etc/netns/${ns('full')}/other`, 'x\n');
      const argvs = [
        ['write', p('a'), b64(mine('a', '1\n'))],
        ['write', p('a'), b64(mine('a', '')), b64('2\n')], // head and body apart
        ['write', p('foreign'), b64(mine('foreign', '3\n'))],
        ['write', p('a'), b64(mine('b', '4\n'))],
        ['write', p('link'), b64(mine('link', '5\n'))],
        ['remove', p('foreign'), b64(markerLine('knq', 'hosts.foreign'))],
        ['remove', p('gone'), b64(markerLine('knq', 'hosts.gone'))],
        ['write', p('b'), b64(`${mine('b', '')}# tsnet made /etc/netns/knq-b for this file: it is removed with it when empty\n`), b64('no newline at the end')],
        ['write', p('c'), b64(`${mine('c', '')}# tsnet made /etc/netns/${ns('c')} for this file: it is removed with it when empty\n`), b64('6\n')],
        ['remove', p('c'), b64(markerLine('knq', 'hosts.c'))],
        ['rmdir', `/etc/netns/${ns('c')}`],
        ['rmdir', `/etc/netns/${ns('full')}`],
        // Links (the sandboxes' hosts): made, re-pointed, over a file of tsnet's for it; never over a foreign file or link.
        ['link', p('l1'), '../.tsnet/knq/00000001.hosts', 'knq:hosts.l1'],
        ['link', p('l1'), '../.tsnet/knq/00000002.hosts', 'knq:hosts.l1'],
        ['link', p('a'), '../.tsnet/knq/00000001.hosts', 'knq:hosts.a'],
        ['link', p('foreign'), '../.tsnet/knq/00000001.hosts', 'knq:hosts.foreign'],
        ['link', p('link'), '../.tsnet/knq/00000001.hosts', 'knq:hosts.link'],
        ['unlink', p('link'), 'knq:hosts.link'],
        ['link', p('l2'), '../.tsnet/knq/00000001.hosts', 'knq:hosts.l2'],
        ['unlink', p('l2'), 'knq:hosts.l2'],
        ['unlink', p('l2'), 'knq:hosts.l2'],
        ['rmdir', `/etc/netns/${ns('l2')}`],
      ];
      const lines = argvs.map(fileLine);
      const ops = argvs.map(fileOp);
      const res = side === 'script' ? await runner.run(fileScriptArgv('go-on'), { input: `${lines.join('\n')}\n` }) : LOCAL_FILES.apply(ops, 'go-on');
      const stop = side === 'script' ? await runner.run(fileScriptArgv('stop'), { input: `${lines.slice(2).join('\n')}\n` }) : LOCAL_FILES.apply(ops.slice(2), 'stop');
      // Read back in-process and by the ssh hosts' read script: the same answers (a link as its target).
      const paths = [p('a'), p('b'), p('c'), p('none'), p('l1'), p('link')];
      const script = await readFiles({ host: 'local', machine: 'local', describe: 'script', run: (argv, o) => runner.run(argv, o), listNetns: () => runner.listNetns(), close: () => runner.close() }, paths);
      const read = [...LOCAL_FILES.read(paths).values()];
      expect(read).toEqual([...script.values()]);
      results[side] = { res: { ...res, stderr: res.stderr.replaceAll(ns(''), 'NS-') }, stop: { ...stop, stderr: stop.stderr.replaceAll(ns(''), 'NS-') }, files: tree(ns('')), read: read.map((f) => ({ ...f, path: f.path.replace(ns(''), 'NS-') })) };
    }
    expect(results.local).toEqual(results.script);
    const local = results.local as { res: { stdout: string; exitCode: number }; files: Record<string, string> };
    expect(local.res.exitCode).toBe(1);
    expect(local.res.stdout.trim().split('\n')).toEqual(['ok 1', 'ok 2', 'ok 7', 'ok 8', 'ok 9', 'ok 10', 'ok 11', 'ok 12', 'ok 13', 'ok 14', 'ok 15', 'ok 19', 'ok 20', 'ok 21', 'ok 22']);
    expect(local.files['l1/hosts']).toBe('-> ../.tsnet/knq/00000002.hosts');
    expect(local.files['a/hosts']).toBe('-> ../.tsnet/knq/00000001.hosts'); // over tsnet's own file for hosts.a
    expect(local.files['link/hosts']).toBe('-> /etc/netns/nowhere');
    expect(local.files['l2/']).toBeUndefined();
    expect(local.files['foreign/hosts']).toBe('198.18.96.7 mine\n');
    expect(local.files['b/hosts']).toBe(`${markerLine('knq', 'hosts.b')}\n# tsnet made /etc/netns/knq-b for this file: it is removed with it when empty\nno newline at the end`);
    // Read back as head (marker and directory lines) and body.
    expect((results.local as { read: unknown[] }).read[4]).toEqual({ path: '/etc/netns/NS-l1/hosts', link: '../.tsnet/knq/00000002.hosts', dirExists: true });
    expect((results.local as { read: unknown[] }).read[1]).toEqual({
      path: '/etc/netns/NS-b/hosts',
      content: { head: `${markerLine('knq', 'hosts.b')}\n# tsnet made /etc/netns/knq-b for this file: it is removed with it when empty\n`, body: 'no newline at the end' },
      dirExists: true,
    });
    expect(local.files['c/']).toBeUndefined();
    expect(existsSync('/etc/netns/knql-full/other')).toBe(true);
  });
});
