// The firewall's plan errors and table ownership, on the state the golden cases captured from
// the kernel (test/fixtures/plan/*-firewall), changed in one way each: no nft on the host, a
// process listening on a published port, a chain of someone else's in tsnet's table.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadText } from '../../src/model/load.js';
import { expand, type Spec } from '../../src/planner/desired.js';
import { plan } from '../../src/planner/plan.js';
import type { LiveState } from '../../src/state/types.js';
import { PLAN_CASES, readLiveState } from '../support/golden.js';

const caseDir = (name: string) => join(PLAN_CASES, name);

function planWith(name: string, edit: (live: LiveState) => void, opts: { destroy?: boolean; file?: string } = {}) {
  const text = opts.file ?? readFileSync(join(caseDir(name), 'topology.yaml'), 'utf8');
  const t = loadText('topology.yaml', text).topology!;
  const live = readLiveState(caseDir(name), ['local'], t.name);
  edit(live);
  const desired = opts.destroy ? new Map([['local', new Map<string, Spec>()]]) : expand(t);
  return plan({ topology: t.name, hosts: ['local'], implicitHost: true, desired, live, machines: new Map([['local', 'local']]), destroy: opts.destroy ?? false });
}

describe('firewall plan errors', () => {
  it('names the host when nft is missing, for every rule resource, and only when rules are wanted', () => {
    const p = planWith('create-firewall', (live) => {
      live.hosts.get('local')!.natUnavailable = 'nft (Debian package nftables) is not installed';
    });
    expect(p.errors.map((e) => e.address)).toEqual(['allow.web.db.5432/tcp', 'hairpin.front', 'internal.back', 'isolation.back.front', 'isolation.front.back', 'port.web.127.0.0.1:8081/tcp', 'port.web.8080/tcp']);
    expect(p.errors[0]!.message).toBe('isolation, internal networks and published ports need nftables on host "local": nft (Debian package nftables) is not installed');
    // The same host without a firewall in the file: no error.
    const plain = readFileSync(join(caseDir('remove-firewall'), 'topology.yaml'), 'utf8');
    const q = planWith('create-firewall', (live) => {
      live.hosts.get('local')!.natUnavailable = 'nft (Debian package nftables) is not installed';
    }, { file: plain });
    expect(q.errors).toEqual([]);
  });

  it('refuses a published port a process on the host listens on, naming it', () => {
    const p = planWith('create-firewall', (live) => {
      live.hosts.get('local')!.listeners = [
        { proto: 'tcp', address: '0.0.0.0', port: 8080, process: 'nginx (pid 81)' },
        { proto: 'udp', address: '0.0.0.0', port: 8081 },
        { proto: 'tcp', address: '127.0.0.1', port: 9999 },
      ];
    });
    expect(p.errors.map((e) => `${e.address}: ${e.message}`)).toEqual(['port.web.8080/tcp: host port 8080/tcp is in use on host "local": nginx (pid 81) listens on 0.0.0.0:8080']);
  });

  it('counts a loopback listener only against a port published on loopback', () => {
    const on = (address: string, port: number) =>
      planWith('create-firewall', (live) => {
        live.hosts.get('local')!.listeners = [{ proto: 'tcp', address, port }];
      }).errors.map((e) => e.address);
    expect(on('127.0.0.1', 8080)).toEqual([]);
    expect(on('127.0.0.1', 8081)).toEqual(['port.web.127.0.0.1:8081/tcp']);
    expect(on('::', 8080)).toEqual(['port.web.8080/tcp']);
    expect(on('198.18.80.1', 8080)).toEqual(['port.web.8080/tcp']);
  });
});

describe('tsnet\'s table', () => {
  it('stays when it holds a chain tsnet did not make; only tsnet\'s chains go', () => {
    const p = planWith(
      'nochange-firewall',
      (live) => {
        live.hosts.get('local')!.nat!.chains.push({ name: 'mine', rules: [] });
      },
      { destroy: true },
    );
    const nft = p.steps.filter((s) => s.tool === 'nft');
    expect(nft.map((s) => s.description)).toEqual(['write the filter and port rules of nftables table inet tsnet-shop']);
    expect(nft[0]!.do.map((l) => l.join(' '))).not.toContain('delete table inet tsnet-shop');
    expect(nft[0]!.do.map((l) => l.join(' ')).filter((l) => l.startsWith('delete chain'))).toEqual([
      'delete chain inet tsnet-shop dnat-front',
      'delete chain inet tsnet-shop hairpin-front',
      'delete chain inet tsnet-shop hostdnat-front',
      'delete chain inet tsnet-shop internal-back',
      'delete chain inet tsnet-shop isolation-back',
      'delete chain inet tsnet-shop isolation-front',
    ]);
  });

  it('is deleted with its last chain, and the undo makes every chain again', () => {
    const p = planWith('nochange-firewall', () => {}, { destroy: true });
    const del = p.steps.find((s) => s.description === 'delete nftables table inet tsnet-shop')!;
    const undo = del.undo.map((c) => c.argv.join(' '));
    expect(undo[0]).toBe('add table inet tsnet-shop');
    expect(undo).toContain('add chain inet tsnet-shop isolation-front { type filter hook forward priority filter ; policy accept ; }');
    expect(undo).toContain('add rule inet tsnet-shop isolation-front iifname "tsn-front" oifname "tsn-back" ct state != { established, related } drop comment "tsnet:shop:isolation.front.back"');
    expect(undo.filter((u) => u.startsWith('add rule')).length).toBe(15);
  });
});
