// markInUse: which named namespaces processes are in, from /run/netns inodes against
// /proc/PID/ns/net links. A stand-in directory tree plays both (a file's inode for a namespace,
// symlinks with the kernel's "net:[INODE]" text for processes).
import { mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { markInUse } from './read.js';
import { emptyNamespace, type KNamespace } from './types.js';

const root = mkdtempSync(join(tmpdir(), 'tsnet-inuse-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('markInUse', () => {
  it('lists the pids in each namespace, and only those', () => {
    const netns = join(root, 'netns');
    const proc = join(root, 'proc');
    mkdirSync(netns);
    for (const n of ['a', 'b', 'c']) writeFileSync(join(netns, n), '');
    const ino = (n: string) => statSync(join(netns, n)).ino;
    const process = (pid: number, target: string) => {
      mkdirSync(join(proc, String(pid), 'ns'), { recursive: true });
      symlinkSync(target, join(proc, String(pid), 'ns', 'net'));
    };
    process(10, `net:[${ino('a')}]`);
    process(11, `net:[${ino('a')}]`);
    process(12, `net:[${ino('c')}]`);
    process(13, 'net:[4026531840]'); // the machine's own
    mkdirSync(join(proc, 'self')); // not a pid
    const namespaces = new Map<string, KNamespace>(['a', 'b', 'c', 'gone'].map((n) => [n, emptyNamespace(n)]));
    namespaces.get('b')!.inUse = [99]; // stale, from an earlier read
    markInUse(namespaces, netns, proc);
    expect(namespaces.get('a')!.inUse?.sort()).toEqual([10, 11]);
    expect(namespaces.get('b')!.inUse).toBeUndefined();
    expect(namespaces.get('c')!.inUse).toEqual([12]);
    expect(namespaces.get('gone')!.inUse).toBeUndefined();
  });
});
