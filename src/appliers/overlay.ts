// overlay networks: per host a bridge and a VXLAN device enslaved to it, with static flood,
// forwarding and neighbour entries for every other host and remote endpoint.
import type { OverlaySpec } from '../planner/desired.js';
import type { Context } from './common.js';

/** The resource address an owned overlay link belongs to ("network.x/vxlan" -> "network.x"). */
export const overlayAddresses = (markAddress: string): string => markAddress.replace(/\/vxlan$/, '');

export function planOverlay(ctx: Context, address: string, _want: OverlaySpec | undefined): void {
  ctx.sink.error(ctx.host, address, 'overlay networks are not supported by this build yet');
}
