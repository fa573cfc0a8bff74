import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { privateEtcNetns } from './lab-check.js';

const dir = mkdtempSync(join(tmpdir(), 'tsnet-mountinfo-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function mountinfo(lines: string[]): string {
  const file = join(dir, `m${Math.random()}`);
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

const ROOT = '22 1 0:21 / / rw,relatime - ext4 /dev/sda1 rw';

describe('privateEtcNetns', () => {
  it("is true when the lab's tmpfs is mounted on /etc/netns", () => {
    expect(privateEtcNetns(mountinfo([ROOT, '90 68 0:43 / /etc/netns rw,relatime - tmpfs tsnet-lab-etc-netns rw']))).toBe(true);
  });
  it("is false without a mount there (the machine's own /etc)", () => {
    expect(privateEtcNetns(mountinfo([ROOT]))).toBe(false);
  });
  it('is false for another tmpfs, and looks at the last mount on the path', () => {
    expect(privateEtcNetns(mountinfo([ROOT, '90 68 0:43 / /etc/netns rw - tmpfs other rw']))).toBe(false);
    expect(privateEtcNetns(mountinfo([ROOT, '90 68 0:43 / /etc/netns rw - tmpfs tsnet-lab-etc-netns rw', '91 90 8:1 /x /etc/netns rw - ext4 /dev/sda1 rw']))).toBe(false);
  });
  it('is false when mountinfo cannot be read', () => {
    expect(privateEtcNetns(join(dir, 'missing'))).toBe(false);
  });
});
