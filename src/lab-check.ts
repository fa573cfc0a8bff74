// Whether this process runs inside the lab (scripts/lab): TSNET_LAB is "1" and this process's
// network namespace is not the machine's own (PID 1's; kthreadd's, PID 2, where PID 1 cannot be
// read). The kernel tests, the benchmark and the golden-case scripts all ask this before they
// run a single `ip` command.
import { readFileSync, statSync } from 'node:fs';

export type LabCheck = { inLab: true } | { inLab: false; reason: string };

export function checkLab(): LabCheck {
  const env = process.env.TSNET_LAB;
  if (env !== '1') {
    return {
      inLab: false,
      reason: env?.startsWith('unavailable:')
        ? `the lab is not available here: ${env.slice('unavailable:'.length)}`
        : 'not inside the lab (TSNET_LAB is not "1"): run it with scripts/lab',
    };
  }
  let self: number;
  try {
    self = statSync('/proc/self/ns/net').ino;
  } catch (err) {
    return { inLab: false, reason: `cannot read this process's network namespace: ${(err as Error).message}` };
  }
  // The machine's own namespace is PID 1's. Where PID 1 cannot be inspected (here PID 1 is a VM's
  // init that even root may not stat), PID 2 stands in for it when it is kthreadd: a kernel
  // thread, always in the initial namespaces. With neither readable, the file is skipped.
  let compared = 0;
  const errors: string[] = [];
  for (const pid of [1, 2]) {
    let other: number;
    try {
      if (pid === 2 && readFileSync('/proc/2/comm', 'utf8').trim() !== 'kthreadd') continue;
      other = statSync(`/proc/${pid}/ns/net`).ino;
    } catch (err) {
      errors.push(`PID ${pid}: ${(err as Error).message}`);
      continue;
    }
    if (other === self) return { inLab: false, reason: `TSNET_LAB is 1, but this process is in the network namespace of PID ${pid} (the machine's own)` };
    compared++;
  }
  if (!compared) return { inLab: false, reason: `cannot compare this process's network namespace with the machine's (${errors.join('; ') || 'PID 2 is not kthreadd'})` };
  if (!privateEtcNetns()) return { inLab: false, reason: "/etc/netns is not the lab's private tmpfs (tsnet-lab-etc-netns): hosts files would be written to this machine's /etc; run it with scripts/lab" };
  return { inLab: true };
}

/** True when /etc/netns is the tmpfs scripts/lab mounts, so names files never reach the machine's /etc. */
export function privateEtcNetns(mountinfo = '/proc/self/mountinfo'): boolean {
  let text: string;
  try {
    text = readFileSync(mountinfo, 'utf8');
  } catch {
    return false;
  }
  // Fields: id parent major:minor root mountpoint options ... - fstype source superoptions.
  // The last mount on a path is the one seen.
  const last = text
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f[4] === '/etc/netns')
    .pop();
  if (!last) return false;
  const dash = last.indexOf('-');
  return last[dash + 1] === 'tmpfs' && last[dash + 2] === 'tsnet-lab-etc-netns';
}

