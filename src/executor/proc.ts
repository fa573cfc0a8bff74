// Telling a live process from a gone one by pid and start time (a pid alone may be reused).
import { readFileSync } from 'node:fs';

/** Field 22 of /proc/<pid>/stat: when the process started, in clock ticks since boot. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19];
  } catch {
    return undefined;
  }
}

export function isAlive(p: { pid: number; startTime: string }): boolean {
  const now = processStartTime(p.pid);
  return now !== undefined && now === p.startTime;
}
