// apply and destroy change the kernel: without CAP_NET_ADMIN (and CAP_SYS_ADMIN to enter
// namespaces) they say so in one line before touching anything.
import { readFileSync } from 'node:fs';

const CAP_NET_ADMIN = 12;
const CAP_SYS_ADMIN = 21;

export function missingCapabilities(): string[] {
  let eff: bigint;
  try {
    const status = readFileSync('/proc/self/status', 'utf8');
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
    if (!m) return [];
    eff = BigInt(`0x${m[1]}`);
  } catch {
    return [];
  }
  const missing: string[] = [];
  if (!(eff & (1n << BigInt(CAP_NET_ADMIN)))) missing.push('CAP_NET_ADMIN');
  if (!(eff & (1n << BigInt(CAP_SYS_ADMIN)))) missing.push('CAP_SYS_ADMIN');
  return missing;
}
