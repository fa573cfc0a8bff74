// Pictures of a topology: networks, sandboxes and endpoints with their addresses, grouped by
// host. Mermaid renders in GitHub comments; DOT goes through Graphviz (svg).
import { driverFor } from '../appliers/registry.js';
import { formatValue, SHAPING_KEYS, type ShapingValues } from '../model/shaping.js';
import type { Endpoint, Topology } from '../model/types.js';

/** A node id from a name: letters and digits kept, anything else (even '_') as _XX, its hex code, so no two names share an id. */
const id = (kind: string, name: string) => `${kind}_${name.replace(/[^A-Za-z0-9]/g, (c) => `_${c.charCodeAt(0).toString(16).padStart(2, '0')}`)}`;
const mq = (s: string) => s.replace(/"/g, '#quot;');

function networkLabel(t: Topology, name: string): string[] {
  const n = t.networks.get(name)!;
  const d = driverFor(n.driver);
  const subnets = n.subnets.map((s) => s.cidr).join(', ');
  return [`${name}`, d.graph.label(n), ...(subnets ? [subnets] : []), ...(d.graph.showsGateway && !n.gatewayless && n.subnets.length ? [`gw ${n.subnets.map((s) => s.gateway).join(', ')}`] : [])];
}

/** Networks drawn as a direct edge between their two endpoints' sandboxes (p2p links): no node of their own. */
const isDirect = (t: Topology, name: string) => driverFor(t.networks.get(name)!.driver).graph.direct === true;

/** The two ends of a directly drawn network, with their sandboxes. */
function directEnds(t: Topology, name: string) {
  return [...t.sandboxes.values()].flatMap((sb) => sb.endpoints.filter((e) => e.network === name).map((e) => ({ sb: sb.name, ep: e })));
}

const endText = (e: { sb: string; ep: Endpoint }) => [`${e.sb}/${e.ep.ifname}`, ...e.ep.addresses, ...(e.ep.up === false ? ['(down)'] : [])].join(' ');

function sandboxLabel(t: Topology, name: string): string[] {
  const sb = t.sandboxes.get(name)!;
  const mode = sb.mode.kind === 'own' ? `netns ${sb.netns}` : sb.mode.kind === 'container' ? `shares ${sb.mode.target}` : sb.mode.kind;
  const extra = Object.entries(sb.sysctls).map(([k, v]) => `${k}=${v}`);
  const ports = (t.firewall?.ports ?? []).filter((p) => p.sandbox === name).map((p) => `publishes ${p.address.slice(`port.${name}.`.length)} -> ${p.port}`);
  return [name, mode, ...extra, ...ports];
}

/** One direction of shaping as written: "rate 10mbit delay 20ms". */
const direction = (v: ShapingValues): string =>
  SHAPING_KEYS.filter((k) => v[k] !== undefined)
    .map((k) => `${k} ${formatValue(k, v[k]!)}`)
    .join(' ');

/**
 * An endpoint's edge label: its interface, addresses, its shaping (what it sends; "in:" what it
 * receives), and "down" for a link taken down (drawn dashed).
 */
function endpointLabel(ep: Endpoint): string[] {
  const out = ep.shaping && direction(ep.shaping.egress);
  const inward = ep.shaping?.ingress && direction(ep.shaping.ingress);
  return [ep.ifname, ...ep.addresses, ...(out ? [`out: ${out}`] : []), ...(inward ? [`in: ${inward}`] : []), ...(ep.up === false ? ['down'] : [])];
}

/** DOT attributes of an endpoint's edge besides its label: dashed when down, bold when shaped. */
function dotStyle(ep: Endpoint): { before: string; after: string } {
  if (ep.up === false) return { before: `style=${ep.shaping ? '"dashed,bold"' : 'dashed'}, `, after: '' };
  return { before: '', after: ep.shaping ? ', style=bold' : '' };
}

/** Which host a network's node is drawn in: its only host, or none (a global network drawn outside the hosts). */
function networkHome(t: Topology, name: string): string | undefined {
  const n = t.networks.get(name)!;
  return driverFor(n.driver).model.scope === 'local' && n.hosts.length === 1 ? n.hosts[0] : n.hosts.length === 1 && t.hosts.size === 1 ? n.hosts[0] : undefined;
}

export function toMermaid(t: Topology): string {
  const out = ['flowchart LR'];
  const multi = t.hosts.size > 1 || !t.implicitHost;
  for (const host of t.hosts.values()) {
    const inner: string[] = [];
    for (const n of t.networks.keys()) if (!isDirect(t, n) && networkHome(t, n) === host.name) inner.push(`${id('net', n)}{{"${mq(networkLabel(t, n).join('<br/>'))}"}}`);
    for (const sb of t.sandboxes.values()) if (sb.host === host.name) inner.push(`${id('sb', sb.name)}["${mq(sandboxLabel(t, sb.name).join('<br/>'))}"]`);
    if (multi) {
      out.push(`  subgraph ${id('host', host.name)}["host ${mq(host.name)}${host.underlay ? ` (${host.underlay})` : ''}"]`);
      for (const l of inner) out.push(`    ${l}`);
      out.push('  end');
    } else for (const l of inner) out.push(`  ${l}`);
  }
  for (const n of t.networks.keys()) if (!isDirect(t, n) && networkHome(t, n) === undefined) out.push(`  ${id('net', n)}{{"${mq(networkLabel(t, n).join('<br/>'))}"}}`);
  for (const n of t.networks.keys()) {
    const [a, b] = isDirect(t, n) ? directEnds(t, n) : [];
    const down = a?.ep.up === false || b?.ep.up === false;
    if (a && b) out.push(`  ${id('sb', a.sb)} ${down ? '-.' : '--'} "${mq([`${n} (${networkLabel(t, n).slice(1).join(', ')})`, endText(a), endText(b)].join('<br/>'))}" ${down ? '.-' : '---'} ${id('sb', b.sb)}`);
  }
  for (const sb of t.sandboxes.values()) {
    for (const ep of sb.endpoints)
      if (!isDirect(t, ep.network)) out.push(`  ${id('sb', sb.name)} ${ep.up === false ? '-.' : '--'} "${mq(endpointLabel(ep).join('<br/>'))}" ${ep.up === false ? '.-' : '---'} ${id('net', ep.network)}`);
    if (sb.mode.kind === 'container') out.push(`  ${id('sb', sb.name)} -. "shares namespace" .-> ${id('sb', sb.mode.target)}`);
  }
  return `${out.join('\n')}\n`;
}

const dq = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;

export function toDot(t: Topology): string {
  const out = [`graph ${dq(t.name)} {`, '  rankdir=LR;', '  node [fontname="Helvetica", fontsize=10];', '  edge [fontname="Helvetica", fontsize=9];'];
  const multi = t.hosts.size > 1 || !t.implicitHost;
  const netNode = (n: string) => `${id('net', n)} [shape=hexagon, style=filled, fillcolor="#dbeafe", label=${dq(networkLabel(t, n).join('\n'))}];`;
  const sbNode = (s: string) => `${id('sb', s)} [shape=box, style="rounded,filled", fillcolor="#fef3c7", label=${dq(sandboxLabel(t, s).join('\n'))}];`;
  for (const host of t.hosts.values()) {
    const inner: string[] = [];
    for (const n of t.networks.keys()) if (!isDirect(t, n) && networkHome(t, n) === host.name) inner.push(netNode(n));
    for (const sb of t.sandboxes.values()) if (sb.host === host.name) inner.push(sbNode(sb.name));
    if (multi) {
      out.push(`  subgraph ${id('cluster', host.name)} {`, `    label=${dq(`host ${host.name}${host.underlay ? ` (${host.underlay})` : ''}`)};`, '    style=dashed;');
      for (const l of inner) out.push(`    ${l}`);
      out.push('  }');
    } else for (const l of inner) out.push(`  ${l}`);
  }
  for (const n of t.networks.keys()) if (!isDirect(t, n) && networkHome(t, n) === undefined) out.push(`  ${netNode(n)}`);
  for (const n of t.networks.keys()) {
    const [a, b] = isDirect(t, n) ? directEnds(t, n) : [];
    const down = a?.ep.up === false || b?.ep.up === false;
    if (a && b) out.push(`  ${id('sb', a.sb)} -- ${id('sb', b.sb)} [penwidth=2, ${down ? 'style=dashed, ' : ''}label=${dq([`${n} (${networkLabel(t, n).slice(1).join(', ')})`, endText(a), endText(b)].join('\n'))}];`);
  }
  for (const sb of t.sandboxes.values()) {
    for (const ep of sb.endpoints) {
      if (isDirect(t, ep.network)) continue;
      const style = dotStyle(ep);
      out.push(`  ${id('sb', sb.name)} -- ${id('net', ep.network)} [${style.before}label=${dq(endpointLabel(ep).join('\n'))}${style.after}];`);
    }
    if (sb.mode.kind === 'container') out.push(`  ${id('sb', sb.name)} -- ${id('sb', sb.mode.target)} [style=dotted, label="shares namespace"];`);
  }
  out.push('}');
  return `${out.join('\n')}\n`;
}
