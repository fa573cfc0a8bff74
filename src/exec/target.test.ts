// resolveTargets: where each sandbox's command runs, from the file alone.
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { loadText } from '../model/load.js';
import type { Topology } from '../model/types.js';
import { resolveTargets } from './target.js';

function load(spec: Record<string, unknown>): Topology {
  const r = loadText('t.yaml', stringify({ version: 1, name: 't', ...spec }));
  expect(r.diagnostics).toEqual([]);
  return r.topology!;
}

const modes = () =>
  load({
    hosts: { h1: { via: 'netns lab-h1' }, h2: { via: 'ssh root@h2' } },
    networks: { n: { driver: 'bridge', subnet: '198.18.0.0/24' } },
    sandboxes: {
      web: { host: 'h1', endpoints: [{ network: 'n' }] },
      side: { host: 'h1', mode: 'container:web' },
      side2: { host: 'h1', mode: 'container:side' },
      quiet: { host: 'h2', mode: 'none', netns: 'custom-ns' },
      hst: { host: 'h2', mode: 'host' },
    },
  });

describe('resolveTargets', () => {
  it('every mode: own and none in their namespace, container: in its (chained) target\'s, host in the host\'s stack', () => {
    expect(resolveTargets(modes(), { all: true, names: [] })).toEqual({
      errors: [],
      targets: [
        { sandbox: 'web', host: 'h1', ns: 't-web', owner: 'web' },
        { sandbox: 'side', host: 'h1', ns: 't-web', owner: 'web' },
        { sandbox: 'side2', host: 'h1', ns: 't-web', owner: 'web' },
        { sandbox: 'quiet', host: 'h2', ns: 'custom-ns', owner: 'quiet' },
        { sandbox: 'hst', host: 'h2', ns: null },
      ],
    });
  });

  it('names in the order given, each once', () => {
    const r = resolveTargets(modes(), { names: ['hst', 'web', 'hst'] });
    expect(r.targets.map((t) => t.sandbox)).toEqual(['hst', 'web']);
  });

  it('an unknown name is an error listing the known ones', () => {
    expect(resolveTargets(modes(), { names: ['web', 'nope'] }).errors).toEqual(['no sandbox "nope" in t.yaml; its sandboxes: web, side, side2, quiet, hst']);
  });

  it('names and --all together, or neither, are errors', () => {
    expect(resolveTargets(modes(), { all: true, names: ['web'] }).errors).toEqual(['give sandbox names or --all, not both']);
    expect(resolveTargets(modes(), { names: [] }).errors).toEqual(['name a sandbox of t.yaml, or give --all']);
  });
});
