// Rules about what a sandbox asks of its names files: `dns:` (resolv.conf).
import { parseIp } from './addresses.js';
import type { Rule } from './rules.js';

/** `dns:` needs a namespace of the sandbox's own (its resolv.conf lives under /etc/netns/<namespace>), and real addresses. */
export const dnsSettings: Rule = (p, r) => {
  for (const sb of p.sandboxes.values()) {
    const dns = sb.raw.dns;
    if (!dns) continue;
    const res = `sandbox.${sb.name}`;
    if (sb.mode.kind === 'host')
      r.error('dns-not-allowed', `sandbox "${sb.name}" has mode "host": it is the host's own stack, whose /etc/resolv.conf tsnet never writes`, [...sb.path, 'dns'], { resource: res, key: true });
    else if (sb.mode.kind === 'container')
      r.error('dns-not-allowed', `sandbox "${sb.name}" shares the namespace (and the resolv.conf) of "${sb.mode.target}"; set dns: there`, [...sb.path, 'dns'], { resource: res, key: true });
    (dns.servers ?? []).forEach((s, i) => {
      if (!parseIp(s)) r.error('dns-server-invalid', `dns server "${s}" of sandbox "${sb.name}" is not an IPv4 or IPv6 address`, [...sb.path, 'dns', 'servers', i], { resource: res });
    });
  }
};
