// The interface every resource applier has: the planner calls each in a list, in any order,
// and each plans its own resources only. What other steps of the plan do to a resource first
// (its namespace replaced, its link deleted, its bridge deleted) reaches it as `Upstream`, when
// a pass plans it again.
import type { Spec } from '../planner/desired.js';
import type { HostPlan, ResourcePlan } from '../planner/host-plan.js';
import type { ResourceKind } from '../planner/types.js';
import type { HostView } from './view.js';

/** Everything an applier sees of one host. */
export interface PlanContext {
  topology: string;
  host: string;
  view: HostView;
  /** The desired resources of the host, by address. */
  desired: ReadonlyMap<string, Spec>;
}

/** Why what a route holds disappears before its own steps run. */
export type DropCause =
  /** Its interface is deleted: `removed` when for good, not to be made again. */
  | { by: 'link'; dev: string; removed: boolean }
  /** Its interface loses its last IPv4 address. */
  | { by: 'flush'; dev: string };

/** What other steps of the plan do to what a resource holds, before its own steps run. */
export type Upstream =
  /** The namespace it lives in is deleted and made again. */
  | { kind: 'namespace-replaced'; ns: string }
  /** The bridge its port is on is deleted (and maybe made again under the same name). */
  | { kind: 'detached'; master: string }
  /** What it holds goes along with another step (and that step's undo puts it back). */
  | { kind: 'dropped'; cause: DropCause };

export interface ResourceApplier {
  readonly kind: ResourceKind;
  /** Plans every resource of its kind on the host: the desired ones and the ones the host holds. */
  planHost(ctx: PlanContext, out: HostPlan): void;
  /** Plans one resource again, knowing what other steps do to it first. */
  replan?(ctx: PlanContext, out: HostPlan, address: string, upstream: Upstream): void;
}

/** An applier that plans resource by resource. */
export interface PerResource<S extends Spec> {
  readonly kind: ResourceKind;
  /** The addresses of this kind the host holds now (owned by the topology). */
  observed(ctx: PlanContext): Iterable<string>;
  plan(ctx: PlanContext, r: ResourcePlan, want: S | undefined, upstream?: Upstream): void;
}

/** The ResourceApplier of a per-resource applier: every address, desired or held, in order. */
export function perResource<S extends Spec>(a: PerResource<S>): ResourceApplier {
  return {
    kind: a.kind,
    planHost(ctx, out) {
      const addresses = new Set<string>();
      for (const s of ctx.desired.values()) if (s.kind === a.kind) addresses.add(s.address);
      for (const address of a.observed(ctx)) addresses.add(address);
      for (const address of [...addresses].sort()) {
        const r = out.resource(address, a.kind);
        const want = ctx.desired.get(address) as S | undefined;
        if (want) r.want = want;
        a.plan(ctx, r, want);
      }
    },
    replan(ctx, out, address, upstream) {
      const r = out.reset(address);
      a.plan(ctx, r, r.want as S | undefined, upstream);
    },
  };
}
