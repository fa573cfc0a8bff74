// unknownSysctls: sysctls of the file that the kernel does not have are plan errors on hosts of
// this machine. A stand-in /proc/sys tree holds only net/ipv4/ip_forward.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadText } from '../model/load.js';
import type { Runner } from '../state/runner.js';
import { unknownSysctls } from './index.js';

const procSys = mkdtempSync(join(tmpdir(), 'tsnet-procsys-'));
mkdirSync(join(procSys, 'net', 'ipv4'), { recursive: true });
writeFileSync(join(procSys, 'net', 'ipv4', 'ip_forward'), '0\n');
afterAll(() => rmSync(procSys, { recursive: true, force: true }));

const topology = loadText(
  't.yaml',
  `version: 1
name: t
networks:
  n: {driver: bridge, subnet: 198.18.0.0/24}
sandboxes:
  r:
    endpoints: [{network: n}]
    sysctls:
      net.ipv4.ip_forward: 1
      net.ipv4.tsnet_typo: 1
      net.ipv4.conf.eth0.rp_filter: 0
`,
).topology!;
const runners = (machine: string) => new Map([['local', { machine } as Runner]]);

describe('unknownSysctls', () => {
  it('names the keys the kernel lacks, and skips per-interface keys (their interface may not exist yet)', () => {
    expect(unknownSysctls(topology, runners('local'), procSys)).toEqual([
      { host: 'local', address: 'sandbox.r', message: `sysctl "net.ipv4.tsnet_typo" does not exist in this kernel (no ${procSys}/net/ipv4/tsnet_typo): a typo, or a module that is not loaded` },
    ]);
  });

  it('says nothing about hosts on other machines (their kernel is not this one)', () => {
    expect(unknownSysctls(topology, runners('ssh:far'), procSys)).toEqual([]);
  });
});
