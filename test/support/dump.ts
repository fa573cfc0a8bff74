// Full dumps of the lab's kernel state, to show that an apply rolled back, or a destroy removed,
// exactly what it should: `ip -d -json` links, addresses and routes (all tables, both families)
// of the lab's own stack and of every named namespace, `ip netns list`, a few namespaced
// sysctls tsnet may set, and the lab stack's nftables ruleset (tsnet's NAT table).
//
// Normalization (the only fields dropped): the bridge and bridge-port timers in `linkinfo`
// (`hello_timer`, `tcn_timer`, `topology_change_timer`, `gc_timer`, `message_age_timer`,
// `forward_delay_timer`, `hold_timer`): they count down by themselves between two reads.
// Nothing else is normalized: ifindexes, MACs, flags, operstate, addresses with their
// lifetimes, routes, netns ids all have to be identical.
import { eventually, must } from './lab.js';

/** Sysctls read in every namespace (tsnet sets namespaced net.* sysctls). */
export const DUMP_SYSCTLS = ['net.ipv4.ip_forward', 'net.ipv4.conf.all.forwarding', 'net.ipv6.conf.all.forwarding'] as const;

export interface StackDump {
  links: unknown[];
  addresses: unknown[];
  routes: unknown[];
  sysctls: Record<string, string>;
}

export interface KernelDump {
  /** `ip -json netns list` as printed, sorted by name. */
  netns: unknown[];
  /**
   * The lab stack's nftables ruleset (`nft -j list ruleset`), without rule and chain handles:
   * a rule put back by a rollback gets a new handle, and nothing else of it may differ.
   */
  nft: unknown[];
  /** '' is the lab's own stack; the rest by namespace name. */
  stacks: Record<string, StackDump>;
}

const TIMER = /_timer$/;

function dropTimers(link: Record<string, unknown>): Record<string, unknown> {
  const info = link.linkinfo as Record<string, unknown> | undefined;
  if (!info) return link;
  const clean = (d: unknown) =>
    d && typeof d === 'object' ? Object.fromEntries(Object.entries(d as Record<string, unknown>).filter(([k]) => !TIMER.test(k))) : d;
  return { ...link, linkinfo: { ...info, ...('info_data' in info ? { info_data: clean(info.info_data) } : {}), ...('info_slave_data' in info ? { info_slave_data: clean(info.info_slave_data) } : {}) } };
}

/**
 * One stack: links, addresses and routes from one `ip -d -json -batch -` (`ip -n` for a
 * namespace: no mount namespace to set up), and its sysctls, read at the same time.
 */
export async function dumpStack(ns: string | null): Promise<StackDump> {
  const input = 'link show\naddr show\nroute show table all\n';
  const [out, sysctlOut] = await Promise.all([
    must(['ip', ...(ns ? ['-n', ns] : []), '-d', '-json', '-batch', '-'], { input }),
    must(['sysctl', ...DUMP_SYSCTLS], ns ? { ns } : {}),
  ]);
  const arrays = out
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Record<string, unknown>[]);
  if (arrays.length !== 3) throw new Error(`expected 3 JSON arrays from ip in ${ns ?? 'the lab stack'}, got ${arrays.length}`);
  const [links, addresses, routes] = arrays as [Record<string, unknown>[], Record<string, unknown>[], Record<string, unknown>[]];
  const sysctls: Record<string, string> = {};
  for (const line of sysctlOut.split('\n')) {
    const [k, v] = line.split(' = ');
    if (k && v !== undefined) sysctls[k.trim()] = v.trim();
  }
  return { links: links.map(dropTimers), addresses: addresses.map(dropTimers), routes, sysctls };
}

/** The whole lab: its own stack and every named namespace, read side by side. */
export async function dumpKernel(): Promise<KernelDump> {
  const listed = (await must(['ip', '-json', 'netns', 'list'])).trim();
  const netns = (listed ? (JSON.parse(listed) as { name: string }[]) : []).sort((a, b) => a.name.localeCompare(b.name));
  const names = netns.map((n) => n.name);
  const [nft, ...dumps] = await Promise.all([dumpNft(), dumpStack(null), ...names.map((n) => dumpStack(n))]);
  const stacks: Record<string, StackDump> = { '': dumps[0]! };
  names.forEach((n, i) => (stacks[n] = dumps[i + 1]!));
  return { netns, nft, stacks };
}

/** `nft -j list ruleset` of the lab's own stack, handles dropped (see KernelDump.nft). */
export async function dumpNft(): Promise<unknown[]> {
  const out = JSON.parse(await must(['nft', '-j', 'list', 'ruleset'])) as { nftables: Record<string, Record<string, unknown>>[] };
  return out.nftables
    .filter((o) => !('metainfo' in o))
    .map((o) => Object.fromEntries(Object.entries(o).map(([kind, v]) => [kind, Object.fromEntries(Object.entries(v).filter(([k]) => k !== 'handle'))])));
}

/**
 * True while the kernel is still settling by itself: an IPv6 address is tentative (duplicate
 * address detection of link-local addresses takes a second or two after a link comes up, and
 * adds local routes when done), or a link's operstate lags its flags (the kernel's linkwatch
 * updates operstate up to a second after carrier changes, e.g. a new bridge's first port).
 */
function settling(dump: KernelDump): boolean {
  for (const stack of Object.values(dump.stacks)) {
    for (const l of stack.links as { flags?: string[]; operstate?: string; link_type?: string }[]) {
      if (l.link_type === 'loopback' || !l.flags?.includes('UP')) continue;
      const carrier = l.flags.includes('LOWER_UP');
      if (carrier && l.operstate !== 'UP') return true;
      if (!carrier && l.operstate === 'UP') return true;
    }
  }
  return JSON.stringify(dump).includes('"tentative":true');
}

/**
 * A dump once the kernel has settled (see settling()) and two reads in a row are the same,
 * waiting at most `ms`. For "before" dumps.
 */
export async function quietDump(ms = 5000): Promise<KernelDump> {
  const until = Date.now() + ms;
  let previous = '';
  for (;;) {
    const dump = await dumpKernel();
    const text = JSON.stringify(dump);
    const busy = settling(dump);
    if ((!busy && text === previous) || Date.now() > until) return dump;
    previous = busy ? '' : text;
    await new Promise((r) => setTimeout(r, busy ? 100 : 50));
  }
}

/**
 * Waits (at most `ms`) until the lab's dump equals `before`, and returns the last dump: links of
 * a deleted namespace are freed by the kernel in the background, so a moment after `netns del`
 * they may still be listed. The caller compares the returned dump to show the difference.
 */
export async function settledDump(before: KernelDump, ms = 3000): Promise<KernelDump> {
  let last: KernelDump | undefined;
  try {
    await eventually(async () => {
      last = undefined;
      last = await dumpKernel();
      if (JSON.stringify(last) !== JSON.stringify(before)) throw new Error('differs');
    }, ms);
  } catch (err) {
    // A dump that differs: the caller's expect() shows how. A dump that could not be made at
    // all is an error of its own (never "as before").
    if (last === undefined) throw err;
  }
  return last!;
}

/** `ip -d -json link show dev X` plus its addresses: one interface, fully. */
export async function dumpLink(dev: string, ns: string | null = null): Promise<unknown> {
  const input = `link show dev ${dev}\naddr show dev ${dev}\n`;
  const out = await must(['ip', '-d', '-json', '-batch', '-'], ns ? { ns, input } : { input });
  return out
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => (JSON.parse(l) as Record<string, unknown>[]).map(dropTimers));
}

/** The paths where two dumps differ, one line each ("stacks.kt3-a.links.1.mtu: 1500 -> 1400"), for messages. */
export function dumpDiff(before: unknown, after: unknown, path = '', out: string[] = []): string[] {
  if (JSON.stringify(before) === JSON.stringify(after)) return out;
  if (before && after && typeof before === 'object' && typeof after === 'object' && Array.isArray(before) === Array.isArray(after)) {
    const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
    for (const k of keys) dumpDiff((before as Record<string, unknown>)[k], (after as Record<string, unknown>)[k], path ? `${path}.${k}` : k, out);
    return out;
  }
  out.push(`${path}: ${JSON.stringify(before)} -> ${JSON.stringify(after)}`);
  return out;
}
