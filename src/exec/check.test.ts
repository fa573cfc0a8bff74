// targetProblem: a target is fine only when its namespace exists and its lo carries the mark of
// the sandbox that owns it, in this topology.
import { describe, expect, it } from 'vitest';
import { targetProblem } from './check.js';
import type { NsLinks } from './marks.js';

const topology = { name: 't', file: 't.yaml' };
const where = '"local" (this machine)';
const lo = (alias?: string): NsLinks => ({ ok: true, links: [{ ifname: 'lo', ...(alias ? { alias } : {}) }, { ifname: 'eth0', alias: 'tsnet:t:endpoint.web.eth0' }] });
const web = { sandbox: 'web', host: 'local', ns: 't-web', owner: 'web' };
const listed = new Set(['t-web']);

describe('targetProblem', () => {
  it('the namespace with this topology\'s mark of its owner: fine (also for a container: sandbox)', () => {
    expect(targetProblem(topology, web, where, listed, lo('tsnet:t:sandbox.web'))).toBeUndefined();
    expect(targetProblem(topology, { ...web, sandbox: 'side' }, where, listed, lo('tsnet:t:sandbox.web'))).toBeUndefined();
  });

  it('the host\'s own stack needs no namespace', () => {
    expect(targetProblem(topology, { sandbox: 'h', host: 'local', ns: null }, where, new Set(), undefined)).toBeUndefined();
  });

  it('a missing namespace (or one gone while read) says apply makes it', () => {
    const msg = 'sandbox "web" does not exist: there is no namespace "t-web" on host "local" (this machine); run "tsnet apply t.yaml" to make it';
    expect(targetProblem(topology, web, where, new Set(), undefined)).toBe(msg);
    expect(targetProblem(topology, web, where, listed, { ok: false, gone: true, error: 'No such file or directory' })).toBe(msg);
  });

  it('a namespace without the mark, with another topology\'s, or with another sandbox\'s is refused', () => {
    expect(targetProblem(topology, web, where, listed, lo())).toContain('is not this topology\'s sandbox (its lo carries no tsnet mark: it was not made by tsnet, not "tsnet:t:sandbox.web")');
    expect(targetProblem(topology, web, where, listed, lo('tsnet:other:sandbox.web'))).toContain('(its lo belongs to topology "other", not');
    expect(targetProblem(topology, web, where, listed, lo('tsnet:t:sandbox.db'))).toContain('(its lo is marked "tsnet:t:sandbox.db", not');
  });

  it('an unreadable namespace is an error naming it, never "fine"', () => {
    expect(targetProblem(topology, web, where, listed, { ok: false, gone: false, error: 'Operation not permitted' })).toBe(
      'sandbox "web": cannot read namespace "t-web" on host "local" (this machine): Operation not permitted',
    );
  });
});
