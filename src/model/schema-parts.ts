// Pieces of the topology schema that the schema and the drivers' branches share (see
// schema.ts; each driver's branch is in its module in src/appliers).
import { shapingSchema } from './shaping.js';

/** A name of ours: networks, sandboxes, hosts. No dots, so resource addresses stay unambiguous. */
export const NAME = '^[A-Za-z0-9][A-Za-z0-9_-]*$';
/**
 * A Linux interface name: 1..15 bytes, not '.' or '..'. The kernel refuses '/', ':' and
 * whitespace; tsnet also keeps out quotes, '#' and the like, which `ip -batch` would read.
 */
export const IFNAME = '^(?!\\.\\.?$)[A-Za-z0-9_.@+-]{1,15}$';
/** A network namespace name: a file name under /run/netns. */
export const NETNS = '^(?!\\.\\.?$)[A-Za-z0-9_.-]{1,64}$';

export const stringOrList = (description: string) =>
  ({
    description,
    anyOf: [
      { type: 'string' },
      { type: 'array', items: { type: 'string' }, minItems: 1 },
    ],
  }) as const;

export const commonNetwork = {
  subnet: stringOrList(
    'IPv4 and/or IPv6 subnet in CIDR form; a list for dual stack (one per family). Bridge networks may leave it out: tsnet picks a free one from Docker\'s default pools.',
  ),
  gateway: stringOrList(
    'Gateway address per subnet. Default: the first address of each subnet. Bridge networks: "none" makes the bridge a switch without an address (the host takes no part in the subnet, sandboxes get no default route).',
  ),
  ipRange: stringOrList(
    'The pool (CIDR inside a subnet) that automatic addresses come from. Default: the whole subnet.',
  ),
  reserved: {
    description: 'Addresses never handed out automatically.',
    type: 'array',
    items: { type: 'string' },
  },
  mtu: { description: 'MTU of the network\'s links (68..65535).', type: 'integer' },
  shaping: shapingSchema,
} as const;

