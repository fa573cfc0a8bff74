// Every resource applier, in a list the planner loops over (in any order: each plans its own
// resources only, and the passes work out what they do to each other).
import type { EndpointSpec, NetworkSpec } from '../planner/desired.js';
import { planBridge } from './bridge.js';
import { markResource } from './common.js';
import { planEndpoint } from './endpoint.js';
import { nat } from './nat.js';
import { sandboxes } from './namespace.js';
import { planOverlay, VXLAN_SUFFIX } from './overlay.js';
import { routes } from './route.js';
import { perResource, type PlanContext, type ResourceApplier } from './types.js';

const ownedOf = (ctx: PlanContext, prefix: string) => [...ctx.view.ownedLinks.keys()].filter((a) => a.startsWith(prefix)).map(markResource);

const networks = perResource<NetworkSpec>({
  kind: 'network',
  observed: (ctx) => ownedOf(ctx, 'network.'),
  plan(ctx, r, want) {
    const isOverlay = want ? want.type === 'overlay' : ctx.view.ownedLinks.has(r.address + VXLAN_SUFFIX);
    if (isOverlay) planOverlay(ctx, r, want?.type === 'overlay' ? want : undefined);
    else planBridge(ctx, r, want?.type === 'bridge' ? want : undefined);
  },
});

const endpoints = perResource<EndpointSpec>({
  kind: 'endpoint',
  observed: (ctx) => ownedOf(ctx, 'endpoint.'),
  plan: planEndpoint,
});

export const APPLIERS: readonly ResourceApplier[] = [sandboxes, networks, endpoints, routes, nat];
