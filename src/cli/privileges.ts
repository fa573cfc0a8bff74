// Changing, and reading, network namespaces and nftables needs CAP_NET_ADMIN and CAP_SYS_ADMIN
// (entering a namespace is setns(2)). apply and destroy say so in one line before touching
// anything; plan and show say the same when a read was refused for want of them, instead of
// the raw "nsenter: reassociate ... Operation not permitted".
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

/** The one line for a command run without the capabilities it needs (`doing`: what for). */
export const needsRoot = (verb: string, missing: readonly string[], doing: string): string =>
  `${verb} needs root (${missing.join(' and ')}) to ${doing}; run it with sudo, or inside scripts/lab`;

/** True for the texts a tool prints when the kernel refused it for want of privileges. */
export const isPermissionError = (text: string): boolean => /Operation not permitted|you must be root|EPERM/.test(text);
