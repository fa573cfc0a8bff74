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

/**
 * `external: true` names a namespace tsnet did not make: exactly one of netns: and pid:, a
 * sandbox of its own (not none, host or container:), no sysctls (the namespace's settings are
 * its owner's) and no dns: (its /etc/netns files are its owner's too); pid: only with external.
 */
export const externalSandboxes: Rule = (p, r) => {
  for (const sb of p.sandboxes.values()) {
    const raw = sb.raw;
    const res = `sandbox.${sb.name}`;
    if (!raw.external) {
      if (raw.pid !== undefined) r.error('pid-needs-external', `sandbox "${sb.name}" names a pid: only an external sandbox can (add external: true)`, [...sb.path, 'pid'], { resource: res, key: true });
      continue;
    }
    const why = `sandbox "${sb.name}" is external (a namespace tsnet did not make)`;
    if (sb.mode.kind !== 'own') r.error('external-mode', `${why}, so it cannot have a mode`, [...sb.path, 'mode'], { resource: res, key: true });
    if ((raw.netns === undefined) === (raw.pid === undefined))
      r.error('external-namespace', `${why}: name it with exactly one of netns: (a namespace in /run/netns) and pid: (a process's namespace)`, [...sb.path, 'external'], { resource: res, key: true });
    if (raw.sysctls && Object.keys(raw.sysctls).length) r.error('sysctls-not-allowed', `${why}: its sysctls are its owner's, tsnet does not set them`, [...sb.path, 'sysctls'], { resource: res, key: true });
    if (raw.dns) r.error('dns-not-allowed', `${why}: its resolv.conf is its owner's, tsnet does not write it`, [...sb.path, 'dns'], { resource: res, key: true });
  }
};
