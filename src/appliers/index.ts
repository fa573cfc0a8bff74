// Every resource applier, in a list the planner loops over (in any order: each plans its own
// resources only, and the passes work out what they do to each other). Networks and endpoints
// are planned by their drivers, through the registry.
import { hostsLinks, resolvFiles, sharedHostsFiles } from './names.js';
import { nat } from './nat.js';
import { firewall } from './firewall.js';
import { sandboxes } from './namespace.js';
import { endpoints, networks } from './registry.js';
import { qdiscs } from './qdisc.js';
import { routes } from './route.js';
import type { ResourceApplier } from './types.js';

export const APPLIERS: readonly ResourceApplier[] = [sandboxes, networks, endpoints, routes, nat, firewall, qdiscs, sharedHostsFiles, hostsLinks, resolvFiles];
