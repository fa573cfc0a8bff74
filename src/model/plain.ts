// The normalized topology as plain data, for `tsnet validate --show` and JSON output.
import type { Topology } from './types.js';

export function topologyToPlain(t: Topology): Record<string, unknown> {
  const hosts = Object.fromEntries(
    [...t.hosts.values()].map((h) => [
      h.name,
      {
        via: h.via.kind === 'local' ? 'local' : h.via.kind === 'ssh' ? `ssh ${h.via.destination}` : `netns ${h.via.netns}`,
        ...(h.underlay ? { underlay: h.underlay } : {}),
        ...(t.implicitHost ? { implicit: true } : {}),
      },
    ]),
  );
  const networks = Object.fromEntries(
    [...t.networks.values()].map((n) => {
      const { name: _name, subnets, ...rest } = n;
      return [
        n.name,
        {
          ...rest,
          subnets: subnets.map((s) => ({
            cidr: s.cidr,
            gateway: s.gateway,
            ...(s.ipRange !== s.cidr ? { ipRange: s.ipRange } : {}),
            ...(s.reserved.length ? { reserved: s.reserved } : {}),
            ...(s.origin === 'pool' ? { picked: 'from the default pools' } : {}),
          })),
        },
      ];
    }),
  );
  const sandboxes = Object.fromEntries(
    [...t.sandboxes.values()].map((s) => [
      s.name,
      {
        host: s.host,
        mode: s.mode.kind === 'container' ? `container:${s.mode.target}` : s.mode.kind,
        netns: s.netns,
        ...(s.endpoints.length
          ? {
              endpoints: s.endpoints.map((e) => ({
                name: e.ifname,
                network: e.network,
                addresses: e.addresses,
                ...(e.mac ? { mac: e.mac } : {}),
                ...(e.mtu !== undefined ? { mtu: e.mtu } : {}),
                ...(e.hostIfname ? { hostIfname: e.hostIfname } : {}),
              })),
            }
          : {}),
        ...(s.routes.length ? { routes: s.routes.map((r) => ({ to: r.to, via: r.via, ...(r.automatic ? { automatic: true } : {}) })) } : {}),
        ...(Object.keys(s.sysctls).length ? { sysctls: s.sysctls } : {}),
      },
    ]),
  );
  return { name: t.name, hosts, networks, sandboxes };
}
