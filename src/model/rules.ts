// Semantic rules: each a small named function that looks at the prepared topology and reports
// what is wrong, with the file position of the offending node and the resource it concerns.
import {
  broadcastAddress,
  contains,
  containsCidr,
  formatCidr,
  formatIp,
  hasHostBits,
  macProblem,
  networkAddress,
  overlaps,
  parseCidr,
  parseIp,
  type Cidr,
} from './addresses.js';
import type { RawNetwork } from '../appliers/driver.js';
import { DRIVERS, findDriver } from '../appliers/registry.js';
import { collector, nearest, type Diagnostic } from './diagnostics.js';
import { kernelNameProblem } from './names.js';
import { asList, networkHosts, type Prepared, type PreparedNetwork, type PreparedSandbox } from './prepare.js';
import { pathToPointer, type PathSegment, type SourceFile } from './source.js';
import { sysctlKeys, sysctlValues } from './sysctls.js';
import { dnsSettings, externalSandboxes } from './sandbox-rules.js';
import type { Family } from './types.js';
import { checkReferences } from '../check/rules.js';
import { shapingValues } from './shaping-rule.js';
import { allowRules, portRules } from './firewall.js';

export interface Reporter {
  error(code: string, message: string, path: PathSegment[], extra?: Extra): void;
  warning(code: string, message: string, path: PathSegment[], extra?: Extra): void;
}

interface Extra {
  hint?: string;
  resource?: string;
  /** Point at the key rather than the value of the last path segment. */
  key?: boolean;
}

export type Rule = (p: Prepared, r: Reporter) => void;

export function makeReporter(source: SourceFile, out: Diagnostic[]): Reporter {
  const { add, repeat } = collector(out); // one per place: what an alias repeats is counted, not repeated
  const push = (severity: 'error' | 'warning') => (code: string, message: string, path: PathSegment[], extra: Extra = {}) => {
    const span = source.locate(path, extra.key ? 'key' : 'value');
    const pointer = pathToPointer(path);
    if (repeat({ file: source.file, severity, code, message, path: pointer, ...(span ? { start: span.start } : {}) })) return;
    add({
      severity,
      code,
      message,
      file: source.file,
      path: pointer,
      ...(extra.resource ? { resource: extra.resource } : {}),
      ...(span ? { start: span.start, end: span.end } : {}),
      ...(extra.hint ? { hint: extra.hint } : {}),
    });
  };
  return { error: push('error'), warning: push('warning') };
}

const MTU_MIN = 68;
const MTU_MAX = 65535;

/** A network of a driver whose networks span hosts (an overlay). */
const isGlobal = (net: PreparedNetwork) => findDriver(net.raw.driver)?.model.scope === 'global';

// ---------------------------------------------------------------- hosts

export const hostAddresses: Rule = (p, r) => {
  const underlays = new Map<string, string>();
  let localHost: string | undefined;
  const netnsHosts = new Map<string, string>();
  for (const h of p.hosts.values()) {
    if (!h.raw) continue;
    const res = `host.${h.name}`;
    if (h.raw.underlay !== undefined) {
      const ip = parseIp(h.raw.underlay);
      if (!ip) {
        r.error('bad-address', `underlay "${h.raw.underlay}" of host "${h.name}" is not an IP address`, [...h.path, 'underlay'], {
          resource: res,
          hint: hasHostBits(h.raw.underlay) || h.raw.underlay.includes('/') ? 'write the address without a prefix length' : undefined,
        });
      } else {
        const text = formatIp(ip.family, ip.value);
        const other = underlays.get(text);
        if (other) r.error('duplicate-underlay', `hosts "${other}" and "${h.name}" have the same underlay address ${text}`, [...h.path, 'underlay'], { resource: res });
        else underlays.set(text, h.name);
      }
    }
    if (h.via.kind === 'local') {
      if (localHost) r.error('duplicate-local-host', `hosts "${localHost}" and "${h.name}" are both "via: local"; one machine is one host`, [...h.path, 'via'], { resource: res });
      else localHost = h.name;
    }
    if (h.via.kind === 'netns') {
      const other = netnsHosts.get(h.via.netns);
      if (other) r.error('duplicate-host-netns', `hosts "${other}" and "${h.name}" use the same namespace "${h.via.netns}"`, [...h.path, 'via'], { resource: res });
      else netnsHosts.set(h.via.netns, h.name);
    }
  }
};

export const sandboxHost: Rule = (p, r) => {
  for (const sb of p.sandboxes.values()) {
    const res = `sandbox.${sb.name}`;
    if (sb.raw.host === undefined) {
      // Hosts left out for their own schema errors still count: the file declares them.
      const declared = p.hosts.size + p.broken.hosts.size;
      if (declared > 1 && !p.implicitHost)
        r.error('host-required', `sandbox "${sb.name}" must say which host it lives on: the topology has ${declared} hosts`, sb.path, {
          resource: res,
          key: true,
          hint: `add "host: ${[...p.hosts.keys(), ...p.broken.hosts][0]}" (hosts: ${[...p.hosts.keys(), ...p.broken.hosts].join(', ')})`,
        });
      continue;
    }
    if (!p.hosts.has(sb.raw.host) && !p.broken.hosts.has(sb.raw.host) && !p.broken.sections.hosts) {
      const known = p.implicitHost ? [] : [...p.hosts.keys()];
      const suggestion = nearest(sb.raw.host, known);
      r.error('unknown-host', `sandbox "${sb.name}" is on host "${sb.raw.host}", which is not declared under hosts`, [...sb.path, 'host'], {
        resource: res,
        hint: suggestion ? `did you mean "${suggestion}"?` : p.implicitHost ? 'declare it under "hosts:", or leave "host" out to use this machine' : `declared hosts: ${known.join(', ')}`,
      });
    }
  }
};

// ---------------------------------------------------------------- networks

/** Ranges no network can hold: the kernel refuses or misroutes addresses in them. */
const SPECIAL_RANGES = [
  ['0.0.0.0/8', '"this network"'],
  ['127.0.0.0/8', 'loopback'],
  ['224.0.0.0/4', 'multicast'],
  ['240.0.0.0/4', 'reserved, with the broadcast address'],
  ['169.254.0.0/16', 'link-local'],
  ['::/127', 'the unspecified and loopback addresses'],
  ['fe80::/10', 'link-local'],
  ['ff00::/8', 'multicast'],
].map(([c, what]) => ({ cidr: parseCidr(c!)!, what: what! }));

export const networkSubnets: Rule = (p, r) => {
  for (const net of p.networks.values()) {
    const res = `network.${net.name}`;
    const subnets = asList(net.raw.subnet);
    const families = new Map<number, string>();
    subnets.forEach((text, i) => {
      const path = typeof net.raw.subnet === 'string' ? [...net.path, 'subnet'] : [...net.path, 'subnet', i];
      const cidr = parseCidr(text, true);
      if (!cidr) {
        const loose = parseCidr(text, false);
        r.error('bad-cidr', loose ? `subnet "${text}" has host bits set` : `subnet "${text}" is not a subnet in CIDR form`, path, {
          resource: res,
          hint: loose ? `did you mean "${formatCidr(loose)}"?` : 'e.g. 198.18.0.0/24 or 2001:db8::/64',
        });
        return;
      }
      const special = SPECIAL_RANGES.find((sp) => sp.cidr.family === cidr.family && overlaps(sp.cidr, cidr));
      if (special) {
        r.error('subnet-reserved', `subnet ${text} overlaps ${formatCidr(special.cidr)} (${special.what}), which no network can use`, path, { resource: res });
        return;
      }
      const longest = longestPrefix(cidr.family, { gateway: needsGateway(net) });
      if (cidr.prefixLength > longest) {
        r.error('subnet-too-small', `subnet ${text} is too small: ${needsGateway(net) ? `network "${net.name}" needs room for a gateway and endpoints` : 'a link needs room for its two ends'} (at most /${longest})`, path, { resource: res });
      }
      const other = families.get(cidr.family);
      if (other) {
        r.error('duplicate-family', `network "${net.name}" has two IPv${cidr.family} subnets (${other} and ${text}); give one per family`, path, { resource: res });
      } else families.set(cidr.family, text);
    });
    const subnet = findDriver(net.raw.driver)?.model.subnet;
    if (subnets.length === 0 && subnet && !subnet.pooled) {
      r.error(`${net.raw.driver}-needs-subnet`, `${net.raw.driver} network "${net.name}" needs a subnet${subnet.why}`, net.path, { resource: res, key: true });
    }
    checkInSubnets(r, net, 'gateway', res);
    checkInSubnets(r, net, 'ipRange', res);
    checkInSubnets(r, net, 'reserved', res);
  }
};

/**
 * Whether the network's driver puts a gateway in its subnet (its model says): on the bridge, the
 * LAN's router (macvlan), the first address kept free (overlay). A link between two ends (p2p)
 * has none, and may then use /31 and /127.
 */
export const needsGateway = (net: PreparedNetwork): boolean => findDriver(net.raw.driver)?.model.gatewayIn(net.raw as RawNetwork) ?? true;

/**
 * The longest prefix a subnet may have. With a gateway: room for it and one endpoint beside
 * IPv4's network and broadcast addresses or IPv6's Subnet-Router anycast (/30, /126; a /128
 * would put the default gateway outside the subnet). Without: the two ends of a
 * point-to-point link (RFC 3021, RFC 6164: /31, /127).
 */
export function longestPrefix(family: Family, { gateway }: { gateway: boolean }): number {
  return family === 4 ? (gateway ? 30 : 31) : gateway ? 126 : 127;
}

/** gateway, ipRange and reserved: each parseable and inside one of the network's subnets. */
function checkInSubnets(r: Reporter, net: PreparedNetwork, field: 'gateway' | 'ipRange' | 'reserved', res: string): void {
  const value = net.raw[field];
  if (value === undefined) return;
  const items = asList(value);
  const seenFamilies = new Set<number>();
  items.forEach((text, i) => {
    const path = typeof value === 'string' ? [...net.path, field] : [...net.path, field, i];
    if (field === 'ipRange') {
      const cidr = parseCidr(text, true);
      if (!cidr) {
        const loose = parseCidr(text, false);
        r.error('bad-cidr', `ipRange "${text}" is not a range in CIDR form${loose ? ' (host bits set)' : ''}`, path, {
          resource: res,
          hint: loose ? `did you mean "${formatCidr(loose)}"?` : undefined,
        });
        return;
      }
      if (net.subnets.length && !net.subnets.some((s) => containsCidr(s.cidr, cidr)))
        r.error('range-outside-subnet', `ipRange ${text} is not inside the subnet of network "${net.name}" (${net.subnets.map((s) => s.text).join(', ')})`, path, { resource: res });
      if (seenFamilies.has(cidr.family)) r.error('duplicate-family', `network "${net.name}" has two IPv${cidr.family} ipRanges`, path, { resource: res });
      seenFamilies.add(cidr.family);
      return;
    }
    // "none": the driver leaves the gateway out (a bridge made a switch); others have no such choice.
    if (field === 'gateway' && text === 'none' && typeof value === 'string') {
      if (needsGateway(net))
        r.error('gateway-none', `"gateway: none" means nothing on ${net.raw.driver} network "${net.name}"; it makes a bridge network a switch without the host`, path, { resource: res });
      return;
    }
    const ip = parseIp(text);
    if (!ip) {
      r.error('bad-address', `${field} "${text}" is not an IP address`, path, {
        resource: res,
        hint: text.includes('/') ? 'write the address without a prefix length' : undefined,
      });
      return;
    }
    if (net.subnets.length && !net.subnets.some((s) => contains(s.cidr, ip.family, ip.value))) {
      r.error(
        field === 'gateway' ? 'gateway-outside-subnet' : 'reserved-outside-subnet',
        `${field === 'gateway' ? 'gateway' : 'reserved address'} ${text} is not inside the subnet of network "${net.name}" (${net.subnets.map((s) => s.text).join(', ')})`,
        path,
        { resource: res },
      );
    }
    if (field === 'gateway') {
      if (seenFamilies.has(ip.family)) r.error('duplicate-family', `network "${net.name}" has two IPv${ip.family} gateways`, path, { resource: res });
      seenFamilies.add(ip.family);
      const subnet = net.subnets.find((s) => contains(s.cidr, ip.family, ip.value));
      if (subnet && (ip.value === networkAddress(subnet.cidr) || ip.value === broadcastAddress(subnet.cidr)))
        r.error('address-not-usable', `gateway ${text} is the ${ip.value === networkAddress(subnet.cidr) ? 'network' : 'broadcast'} address of ${subnet.text}`, path, { resource: res });
    }
  });
}

/** The smallest MTU a link with IPv6 may have (RFC 8200); below it the kernel drops IPv6 from the link. */
const IPV6_MTU_MIN = 1280;

export const mtuRange: Rule = (p, r) => {
  const hasIpv6 = (network: string | undefined) => {
    const net = network === undefined ? undefined : p.networks.get(network);
    return net !== undefined && asList(net.raw.subnet).some((s) => typeof s === 'string' && s.includes(':'));
  };
  const check = (mtu: number | undefined, path: PathSegment[], res: string, network: string | undefined) => {
    if (mtu === undefined) return;
    if (mtu < MTU_MIN || mtu > MTU_MAX) r.error('mtu-range', `mtu ${mtu} is out of range: Linux takes ${MTU_MIN} to ${MTU_MAX}`, path, { resource: res });
    else if (mtu < IPV6_MTU_MIN && hasIpv6(network))
      r.error('mtu-too-small-for-ipv6', `mtu ${mtu} is too small for the IPv6 subnet of network "${network}": IPv6 needs at least ${IPV6_MTU_MIN}, and the kernel refuses IPv6 addresses below it`, path, { resource: res });
  };
  for (const net of p.networks.values()) check(net.raw.mtu, [...net.path, 'mtu'], `network.${net.name}`, net.name);
  for (const sb of p.sandboxes.values()) for (const ep of sb.endpoints) check(ep.raw.mtu, [...ep.path, 'mtu'], ep.address, ep.raw.network);
};

/** Networks of a local driver are on one host (Docker's "local" scope); global ones (overlay) span hosts. */
export const localScope: Rule = (p, r) => {
  for (const net of p.networks.values()) {
    if (findDriver(net.raw.driver)?.model.scope !== 'local') continue;
    const first = new Map<string, string>();
    for (const sb of p.sandboxes.values()) {
      for (const ep of sb.endpoints) {
        if (ep.raw.network !== net.name || !p.hosts.has(sb.host)) continue;
        if (first.size && !first.has(sb.host)) {
          const [h, owner] = [...first.entries()][0]!;
          r.error(
            'network-spans-hosts',
            `${net.raw.driver} network "${net.name}" is local to one host, but ${ep.address} is on "${sb.host}" and ${owner} on "${h}"`,
            [...ep.path, 'network'],
            { resource: ep.address, hint: 'use an overlay network to join sandboxes across hosts' },
          );
        } else if (!first.has(sb.host)) first.set(sb.host, ep.address);
      }
    }
  }
};

export const subnetOverlap: Rule = (p, r) => {
  const nets = [...p.networks.values()];
  for (let i = 0; i < nets.length; i++) {
    for (let j = i + 1; j < nets.length; j++) {
      const a = nets[i]!;
      const b = nets[j]!;
      const hostsA = networkHosts(p, a.name);
      const hostsB = new Set(networkHosts(p, b.name));
      const shared = hostsA.filter((h) => hostsB.has(h));
      // Global networks (overlays) are one network on every host: they clash with anything anywhere.
      if (shared.length === 0 && !isGlobal(a) && !isGlobal(b)) continue;
      for (const sa of a.subnets) {
        for (const sb of b.subnets) {
          if (!overlaps(sa.cidr, sb.cidr)) continue;
          const path = typeof b.raw.subnet === 'string' ? [...b.path, 'subnet'] : [...b.path, 'subnet', sb.index];
          r.error('subnet-overlap', `subnet ${sb.text} of network "${b.name}" overlaps ${sa.text} of network "${a.name}"${shared.length ? ` on host "${shared[0]}"` : ''}`, path, {
            resource: `network.${b.name}`,
          });
        }
      }
    }
  }
};

// ---------------------------------------------------------------- sandboxes and endpoints

export const endpointNetwork: Rule = (p, r) => {
  // One hint per unknown name: an anchor can repeat one name 100,000 times.
  const hints = new Map<string, string>();
  const hintFor = (n: string): string => {
    let hint = hints.get(n);
    if (hint === undefined) {
      const suggestion = nearest(n, p.networks.keys());
      hint = suggestion ? `did you mean "${suggestion}"?` : p.networks.size ? `declared networks: ${[...p.networks.keys()].join(', ')}` : 'declare it under "networks:"';
      hints.set(n, hint);
    }
    return hint;
  };
  for (const sb of p.sandboxes.values()) {
    const joined = new Map<string, string>();
    for (const ep of sb.endpoints) {
      const n = ep.raw.network;
      if (!p.networks.has(n) && !p.broken.networks.has(n)) {
        if (p.broken.sections.networks) continue; // the networks did not parse: any name may be right
        r.error('unknown-network', `${ep.address} joins network "${n}", which is not declared`, [...ep.path, 'network'], { resource: ep.address, hint: hintFor(n) });
      } else if (joined.has(n)) {
        r.error('duplicate-join', `sandbox "${sb.name}" joins network "${n}" twice (${joined.get(n)} and ${ep.address})`, [...ep.path, 'network'], { resource: ep.address });
      } else joined.set(n, ep.address);
    }
  }
};

export const endpointAddresses: Rule = (p, r) => {
  // Per network: which endpoint holds each static address.
  const holders = new Map<string, Map<string, string>>();
  for (const sb of p.sandboxes.values()) {
    for (const ep of sb.endpoints) {
      const net = p.networks.get(ep.raw.network);
      const families = new Set<number>();
      for (const ip of ep.ips) {
        const path = typeof ep.raw.ip === 'string' ? [...ep.path, 'ip'] : [...ep.path, 'ip', ip.index];
        if (ip.family === undefined || ip.value === undefined) {
          r.error('bad-address', `"${ip.text}" of ${ep.address} is not an IP address`, path, {
            resource: ep.address,
            hint: ip.text.includes('/') ? 'write the address without a prefix length: the subnet gives it' : undefined,
          });
          continue;
        }
        if (families.has(ip.family)) {
          r.error('too-many-addresses', `${ep.address} has two IPv${ip.family} addresses; an endpoint has one per subnet`, path, { resource: ep.address });
          continue;
        }
        families.add(ip.family);
        if (!net || (net.subnets.length === 0 && asList(net.raw.subnet).length > 0)) continue; // unknown network or unparseable subnets: reported elsewhere
        const subnet = net.subnets.find((s) => contains(s.cidr, ip.family!, ip.value!));
        if (!subnet) {
          const sameFamily = net.subnets.some((s) => s.cidr.family === ip.family);
          r.error(
            'address-outside-subnet',
            !net.subnets.length
              ? `${ip.text} of ${ep.address} is static, but network "${net.name}" has no subnet to hold it`
              : sameFamily
                ? `${ip.text} of ${ep.address} is outside the subnet of network "${net.name}" (${net.subnets.map((s) => s.text).join(', ')})`
                : `${ip.text} of ${ep.address} is an IPv${ip.family} address, but network "${net.name}" has no IPv${ip.family} subnet (${net.subnets.map((s) => s.text).join(', ')})`,
            path,
            { resource: ep.address, hint: net.subnets.length ? undefined : 'give the network a subnet' },
          );
          continue;
        }
        const role =
          ip.value === networkAddress(subnet.cidr)
            ? 'network address'
            : ip.value === broadcastAddress(subnet.cidr)
              ? 'broadcast address'
              : ip.value === subnet.gateway && needsGateway(net) && findDriver(net.raw.driver)?.model.gatewayReserved !== false
                ? 'gateway address'
                : undefined;
        if (role) {
          r.error(
            role === 'gateway address' ? 'address-is-gateway' : role === 'network address' ? 'address-is-network' : 'address-is-broadcast',
            `${ip.text} of ${ep.address} is the ${role} of ${subnet.text}`,
            path,
            { resource: ep.address },
          );
          continue;
        }
        const byNet = holders.get(net.name) ?? new Map<string, string>();
        holders.set(net.name, byNet);
        const text = formatIp(ip.family, ip.value);
        const other = byNet.get(text);
        if (other) r.error('duplicate-address', `${ip.text} is given to both ${other} and ${ep.address} on network "${net.name}"`, path, { resource: ep.address });
        else byNet.set(text, ep.address);
      }
    }
  }
};

export const duplicateInterface: Rule = (p, r) => {
  for (const sb of p.sandboxes.values()) {
    const names = new Map<string, number>();
    for (const ep of sb.endpoints) {
      const prev = names.get(ep.ifname);
      if (prev !== undefined)
        r.error('duplicate-interface', `sandbox "${sb.name}" has two endpoints named "${ep.ifname}" (endpoints ${prev + 1} and ${ep.index + 1})`, ep.raw.name !== undefined ? [...ep.path, 'name'] : ep.path, {
          resource: ep.address,
          hint: ep.raw.name === undefined ? `endpoint ${ep.index + 1} is named "${ep.ifname}" by default; give one of them another "name"` : undefined,
        });
      else names.set(ep.ifname, ep.index);
      if (ep.ifname === 'lo')
        r.error('duplicate-interface', `an endpoint cannot be named "lo": every namespace has its loopback under that name`, [...ep.path, 'name'], { resource: ep.address });
    }
  }
};

export const modeContents: Rule = (p, r) => {
  for (const sb of p.sandboxes.values()) {
    const res = `sandbox.${sb.name}`;
    const kind = sb.mode.kind;
    if (kind === 'own') continue;
    const why =
      kind === 'none'
        ? 'has mode "none": a namespace with loopback only'
        : kind === 'host'
          ? 'has mode "host": it is the host\'s own stack, which tsnet does not change'
          : `shares the namespace of "${sb.mode.kind === 'container' ? sb.mode.target : ''}"; configure that sandbox instead`;
    if (sb.raw.endpoints?.length) r.error('endpoints-not-allowed', `sandbox "${sb.name}" ${why}, so it cannot have endpoints`, [...sb.path, 'endpoints'], { resource: res, key: true });
    // A none sandbox has loopback only: no route can leave it (normalize would drop them silently).
    if (sb.raw.routes?.length) r.error('routes-not-allowed', `sandbox "${sb.name}" ${why}, so it cannot have routes`, [...sb.path, 'routes'], { resource: res, key: true });
    if (sb.raw.sysctls && Object.keys(sb.raw.sysctls).length && kind !== 'none')
      r.error('sysctls-not-allowed', `sandbox "${sb.name}" ${why}, so it cannot set sysctls`, [...sb.path, 'sysctls'], { resource: res, key: true });
    if (sb.raw.netns !== undefined && (kind === 'host' || kind === 'container'))
      r.error('netns-not-allowed', `sandbox "${sb.name}" ${why}, so it has no namespace of its own to name`, [...sb.path, 'netns'], { resource: res, key: true });
  }
};

export const containerTarget: Rule = (p, r) => {
  for (const sb of p.sandboxes.values()) {
    if (sb.mode.kind !== 'container') continue;
    const res = `sandbox.${sb.name}`;
    const path = [...sb.path, 'mode'];
    const target = sb.mode.target;
    if (target === sb.name) {
      r.error('container-self', `sandbox "${sb.name}" cannot share its own namespace`, path, { resource: res });
      continue;
    }
    if (!p.sandboxes.has(target)) {
      if (p.broken.sandboxes.has(target)) continue;
      const suggestion = nearest(target, [...p.sandboxes.keys()].filter((s) => s !== sb.name));
      r.error('unknown-container', `sandbox "${sb.name}" shares the namespace of "${target}", which is not a sandbox of this topology`, path, {
        resource: res,
        hint: suggestion ? `did you mean "container:${suggestion}"?` : undefined,
      });
      continue;
    }
    // Follow the chain: a cycle is an error, reported once at each member.
    const seen = [sb.name];
    let cur: PreparedSandbox | undefined = p.sandboxes.get(target);
    while (cur && cur.mode.kind === 'container') {
      if (seen.includes(cur.name)) break;
      seen.push(cur.name);
      cur = p.sandboxes.get(cur.mode.target);
    }
    if (cur && seen.includes(cur.name)) {
      const cycle = [...seen.slice(seen.indexOf(cur.name)), cur.name];
      if (cycle[0] === sb.name)
        r.error('container-cycle', `sandboxes share namespaces in a cycle: ${cycle.join(' -> ')}`, path, { resource: res });
      continue;
    }
    if (cur && cur.host !== sb.host && p.hosts.has(sb.host) && p.hosts.has(cur.host))
      r.error('container-host-mismatch', `sandbox "${sb.name}" is on host "${sb.host}" but shares the namespace of "${cur.name}" on "${cur.host}"`, path, { resource: res });
  }
};

export const routeVia: Rule = (p, r) => {
  for (const sb of p.sandboxes.values()) {
    const routes = sb.raw.routes ?? [];
    const seen = new Map<string, number>();
    routes.forEach((route, i) => {
      const path: PathSegment[] = [...sb.path, 'routes', i];
      let res = `route.${sb.name}.${route.to}`;
      const via = parseIp(route.via);
      let toFamily: number | undefined;
      let key = route.to;
      if (route.to !== 'default') {
        const cidr = parseCidr(route.to, true) ?? (parseIp(route.to) ? parseCidr(`${route.to}/${parseIp(route.to)!.family === 4 ? 32 : 128}`) : undefined);
        if (!cidr) {
          const loose = parseCidr(route.to, false);
          r.error('bad-cidr', `route destination "${route.to}" is not "default" or a CIDR`, [...path, 'to'], {
            resource: res,
            hint: loose ? `did you mean "${formatCidr(loose)}"?` : undefined,
          });
          return;
        }
        toFamily = cidr.family;
        key = formatCidr(cidr);
        res = `route.${sb.name}.${key}`;
      } else if (via) {
        key = via.family === 4 ? 'default' : 'default-ipv6';
        res = `route.${sb.name}.${key}`;
      }
      if (!via) {
        r.error('bad-address', `via "${route.via}" of ${res} is not an IP address`, [...path, 'via'], { resource: res });
        return;
      }
      if (toFamily !== undefined && toFamily !== via.family) {
        r.error('route-family', `route to ${route.to} is IPv${toFamily} but its via ${route.via} is IPv${via.family}`, [...path, 'via'], { resource: res });
        return;
      }
      if (seen.has(key)) {
        r.error('duplicate-route', `sandbox "${sb.name}" has two routes to ${key} (routes ${seen.get(key)! + 1} and ${i + 1})`, [...path, 'to'], { resource: res });
        return;
      }
      seen.set(key, i);
      if (sb.mode.kind !== 'own') return; // reported by modeContents
      const reachable = reachableSubnets(p, sb);
      if (reachable.pending) return; // an endpoint's subnet is picked later or its network is broken
      if (!reachable.cidrs.some((c) => contains(c, via.family, via.value))) {
        r.error('unreachable-via', `${res} goes via ${route.via}, which no endpoint of sandbox "${sb.name}" can reach`, [...path, 'via'], {
          resource: res,
          hint: reachable.cidrs.length ? `the sandbox's subnets: ${reachable.cidrs.map(formatCidr).join(', ')}` : 'the sandbox has no endpoint with an address',
        });
      } else if (sb.endpoints.some((e) => e.ips.some((ip) => ip.family === via.family && ip.value === via.value))) {
        r.error('unreachable-via', `${res} goes via ${route.via}, which is the sandbox's own address`, [...path, 'via'], { resource: res });
      }
    });
  }
};

function reachableSubnets(p: Prepared, sb: PreparedSandbox): { cidrs: Cidr[]; pending: boolean } {
  const cidrs: Cidr[] = [];
  let pending = false;
  for (const ep of sb.endpoints) {
    const net = p.networks.get(ep.raw.network);
    if (!net) {
      pending ||= p.broken.networks.has(ep.raw.network) || p.broken.sections.networks;
      continue;
    }
    if (asList(net.raw.subnet).length === 0) pending = true; // picked from the pools at plan time
    cidrs.push(...net.subnets.map((s) => s.cidr));
  }
  return { cidrs, pending };
}

export const kernelNames: Rule = (p, r) => {
  const check = (name: string | undefined, what: string, path: PathSegment[], res: string) => {
    if (name === undefined || p.broken.paths.has(pathToPointer(path))) return; // the schema said it already
    const problem = kernelNameProblem(name);
    if (problem) r.error('kernel-name', `${what} "${name}" ${problem}`, path, { resource: res });
  };
  // Names a driver's networks carry (a bridge's, a macvlan parent's) are checked by the driver's rules.
  for (const sb of p.sandboxes.values())
    for (const ep of sb.endpoints) check(ep.raw.name, 'interface name', [...ep.path, 'name'], ep.address);

  // Two networks wanting one bridge name on a host; two sandboxes wanting one namespace.
  const bridges = new Map<string, string>();
  for (const net of p.networks.values()) {
    if (!net.bridge) continue;
    for (const h of networkHosts(p, net.name)) {
      const key = `${h}/${net.bridge}`;
      const other = bridges.get(key);
      if (other)
        r.error('duplicate-kernel-name', `networks "${other}" and "${net.name}" both want the bridge name "${net.bridge}"${p.implicitHost ? '' : ` on host "${h}"`}`, net.bridgeGiven ? [...net.path, 'bridge'] : net.path, {
          resource: `network.${net.name}`,
          key: !net.bridgeGiven,
        });
      else bridges.set(key, net.name);
    }
  }
  const namespaces = new Map<string, string>();
  const hostNetns = new Set([...p.hosts.values()].flatMap((h) => (h.via.kind === 'netns' ? [h.via.netns] : [])));
  for (const sb of p.sandboxes.values()) {
    if (!sb.netns) continue;
    const path = sb.raw.netns !== undefined ? [...sb.path, 'netns'] : sb.path;
    const other = namespaces.get(sb.netns);
    if (other)
      r.error('duplicate-kernel-name', `sandboxes "${other}" and "${sb.name}" both want the namespace "${sb.netns}"`, path, { resource: `sandbox.${sb.name}`, key: sb.raw.netns === undefined });
    else namespaces.set(sb.netns, sb.name);
    if (hostNetns.has(sb.netns))
      r.error('duplicate-kernel-name', `sandbox "${sb.name}" wants the namespace "${sb.netns}", which stands for a host`, path, { resource: `sandbox.${sb.name}`, key: sb.raw.netns === undefined });
  }
};

export const macAddresses: Rule = (p, r) => {
  const byNet = new Map<string, Map<string, string>>();
  for (const sb of p.sandboxes.values()) {
    for (const ep of sb.endpoints) {
      if (ep.raw.mac === undefined) continue;
      const path = [...ep.path, 'mac'];
      const problem = macProblem(ep.raw.mac);
      if (problem) {
        r.error('bad-mac', `mac "${ep.raw.mac}" of ${ep.address} ${problem}`, path, { resource: ep.address });
        continue;
      }
      const seen = byNet.get(ep.raw.network) ?? new Map<string, string>();
      byNet.set(ep.raw.network, seen);
      const mac = ep.raw.mac.toLowerCase();
      if (seen.has(mac)) r.error('duplicate-mac', `mac ${mac} is given to both ${seen.get(mac)} and ${ep.address} on network "${ep.raw.network}"`, path, { resource: ep.address });
      else seen.set(mac, ep.address);
    }
  }
};

/**
 * Two names the kernel keeps one value under: setting both to different values leaves one of
 * them wrong whatever the order, and every later plan would show a change.
 */
const SYSCTL_ALIASES: readonly (readonly [string, string])[] = [['net.ipv4.ip_forward', 'net.ipv4.conf.all.forwarding']];

export const sysctlConflicts: Rule = (p, r) => {
  for (const sb of p.sandboxes.values()) {
    const sysctls = sb.raw.sysctls ?? {};
    for (const [a, b] of SYSCTL_ALIASES) {
      if (!(a in sysctls) || !(b in sysctls)) continue;
      const norm = (v: unknown) => (typeof v === 'boolean' ? (v ? '1' : '0') : String(v).trim());
      if (norm(sysctls[a]) === norm(sysctls[b])) continue;
      r.error('sysctl-conflict', `sandbox "${sb.name}" sets ${a} and ${b}, which are one value in the kernel, to ${norm(sysctls[a])} and ${norm(sysctls[b])}`, [...sb.path, 'sysctls', b], {
        resource: `sandbox.${sb.name}`,
        key: true,
        hint: 'keep one of them',
      });
    }
  }
};

/** Every rule, in the order their diagnostics read best. */
export const RULES: readonly Rule[] = [
  hostAddresses,
  sandboxHost,
  networkSubnets,
  mtuRange,
  localScope,
  subnetOverlap,
  endpointNetwork,
  endpointAddresses,
  duplicateInterface,
  modeContents,
  containerTarget,
  routeVia,
  kernelNames,
  macAddresses,
  sysctlConflicts,
  sysctlKeys,
  sysctlValues,
  shapingValues,
  allowRules,
  portRules,
  dnsSettings,
  externalSandboxes,
  // checks: (src/check/rules.ts) come last: they name what the rules above checked.
  checkReferences,
];

/** The rules of the file: the general ones, then every registered driver's. */
export const allRules = (): readonly Rule[] => [...RULES, ...DRIVERS.flatMap((d) => d.model.rules)];

export function runRules(p: Prepared, source: SourceFile, rules: readonly Rule[] = allRules()): Diagnostic[] {
  const out: Diagnostic[] = [];
  const reporter = makeReporter(source, out);
  for (const rule of rules) rule(p, reporter);
  return out;
}
