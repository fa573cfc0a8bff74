// Kernel names: deterministic, within 15 bytes, stable across runs (DESIGN.md "Kernel names").
import { createHash } from 'node:crypto';

export const IFNAMSIZ = 15;

/** Hashes already made in this process: a plan asks for each host-side veth name several times. */
const hashes = new Map<string, string>();

/** A short, stable hash of the parts, as hex. */
export function stableHash(parts: readonly string[], length = 8): string {
  const text = parts.join('\u0000');
  let hex = hashes.get(text);
  if (hex === undefined) {
    if (hashes.size >= 100_000) hashes.clear();
    hex = createHash('sha256').update(text).digest('hex');
    hashes.set(text, hex);
  }
  return hex.slice(0, length);
}

/**
 * `prefix + base` when it fits in 15 bytes; otherwise `prefix + start of base + '-' + hash`,
 * where the hash is of the full base, so distinct long names stay distinct.
 */
export function fitName(prefix: string, base: string, max = IFNAMSIZ): string {
  const whole = prefix + base;
  if (Buffer.byteLength(whole) <= max) return whole;
  const hash = stableHash([base], 4);
  // Shorten by whole code points, so a character outside the BMP is never cut in half.
  const chars = [...base];
  while (chars.length && Buffer.byteLength(`${prefix}${chars.join('')}-${hash}`) > max) chars.pop();
  const head = chars.join('');
  return `${prefix}${head.replace(/[-_.]+$/, '')}-${hash}`;
}

/** Default bridge name of a bridge or overlay network. */
export const bridgeName = (network: string): string => fitName('tsn-', network);

/** Default VXLAN device name of an overlay network. */
export const vxlanName = (network: string): string => fitName('tsx-', network);

/**
 * Host-side end of an endpoint's veth pair: "tsv" and a hash of topology, sandbox and
 * interface, so that two topologies on one host never want the same name.
 */
export const hostVethName = (topology: string, sandbox: string, ifname: string): string =>
  `tsv${stableHash([topology, sandbox, ifname], 8)}`;

/** Default namespace name of a sandbox. */
export const netnsName = (topology: string, sandbox: string): string => `${topology}-${sandbox}`;

/** Why the kernel would refuse this interface name, or undefined when it is fine. */
export function kernelNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'is empty';
  if (name === '.' || name === '..') return 'is "." or ".."';
  // The kernel keeps these for its settings (net.ipv4.conf.all, net.ipv4.conf.default).
  if (name === 'all' || name === 'default') return `is kept by the kernel for its settings (net.ipv4.conf.${name}): no interface can have it`;
  if (/[/:\s]/.test(name)) return 'contains "/", ":" or whitespace, which the kernel refuses';
  const bytes = Buffer.byteLength(name);
  if (bytes > IFNAMSIZ) return `is ${bytes} bytes long; Linux interface names hold at most ${IFNAMSIZ}`;
  return undefined;
}
