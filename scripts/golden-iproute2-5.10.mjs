#!/usr/bin/env node
// scripts/golden-iproute2-5.10.mjs: writes the golden plan cases whose state is what iproute2
// 5.10 (Debian 11) prints, from cases captured with iproute2 6.1 (scripts/golden-cases.sh).
// No machine with 5.10 was at hand, so the shape is taken from 5.10's source (git tag v5.10.0
// of iproute2, compared with v6.1.0): its `ip -d -json` prints the same keys tsnet reads, and
// lacks these, which 6.1 added:
//   ip/ipaddress.c        allmulti, gro_max_size, parentbus, parentdev, tso_max_segs, tso_max_size
//   ip/iplink_bridge.c    mcast_vlan_snooping, no_linklocal_learn (info_data of a bridge)
//   ip/iplink_bridge_slave.c  locked (info_slave_data of a port)
//   ip/iplink_macvlan.c   bcqueuelen, usedbcqueuelen, nodst
//   ip/iplink_vxlan.c     vnifilter
// With `--no-addrgenmode`, inet6_addr_gen_mode is left out too: 5.10 prints it (print_af_spec)
// only when the kernel reports the link's IPv6 settings, and a kernel without IPv6 does not.
// Then write the expected plans: UPDATE_GOLDEN=1 npx vitest run --project unit test/unit/plan-golden.test.ts
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const T = new URL('../test/fixtures/plan/', import.meta.url).pathname;
const LINK_KEYS = ['allmulti', 'gro_max_size', 'parentbus', 'parentdev', 'tso_max_segs', 'tso_max_size'];
const INFO_KEYS = ['mcast_vlan_snooping', 'no_linklocal_learn', 'bcqueuelen', 'usedbcqueuelen', 'nodst', 'vnifilter'];
const SLAVE_KEYS = ['locked'];

/** The cases: [new case, the 6.1 case it comes from, whether inet6_addr_gen_mode is left out]. */
const CASES = [
  ['iproute2-5.10-nochange-bridge', 'nochange-bridge', false],
  ['iproute2-5.10-nochange-router', 'nochange-router', false],
  ['iproute2-5.10-nochange-macvlan', 'nochange-macvlan', false],
  ['iproute2-5.10-no-addrgenmode-nochange-bridge', 'nochange-bridge', true],
  ['iproute2-5.10-no-addrgenmode-drift-address-removed', 'drift-address-removed', true],
];

const omit = (o, keys) => (o && typeof o === 'object' ? Object.fromEntries(Object.entries(o).filter(([k]) => !keys.includes(k))) : o);

function link(l, noAddrGenMode) {
  const out = omit(l, [...LINK_KEYS, ...(noAddrGenMode ? ['inet6_addr_gen_mode'] : [])]);
  if (out.linkinfo) {
    out.linkinfo = { ...out.linkinfo };
    if (out.linkinfo.info_data) out.linkinfo.info_data = omit(out.linkinfo.info_data, INFO_KEYS);
    if (out.linkinfo.info_slave_data) out.linkinfo.info_slave_data = omit(out.linkinfo.info_slave_data, SLAVE_KEYS);
  }
  return out;
}

/** One `ip -d -json -batch` output: links, addresses and routes, one JSON array per line. */
function convert(text, noAddrGenMode) {
  const arrays = text.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
  // link show and addr show print link objects; route show prints routes (no link keys to drop).
  return `${arrays.map((a, i) => JSON.stringify(i < 2 ? a.map((l) => link(l, noAddrGenMode)) : a)).join('\n')}\n`;
}

function walk(dir, noAddrGenMode) {
  for (const f of readdirSync(dir)) {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) walk(p, noAddrGenMode);
    else if (f.endsWith('.json') && f !== 'nft.json') writeFileSync(p, convert(readFileSync(p, 'utf8'), noAddrGenMode));
  }
}

for (const [name, from, noAddrGenMode] of CASES) {
  const dir = join(T, name);
  rmSync(join(dir, 'state'), { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const f of ['topology.yaml', 'mode']) if (existsSync(join(T, from, f))) cpSync(join(T, from, f), join(dir, f));
  cpSync(join(T, from, 'state'), join(dir, 'state'), { recursive: true });
  walk(join(dir, 'state'), noAddrGenMode);
  writeFileSync(
    join(dir, 'README.md'),
    `# ${name}\n\nThe state of [${from}](../${from}/) as iproute2 5.10 (Debian 11) prints it${noAddrGenMode ? ', on a kernel that reports no IPv6 settings (no `inet6_addr_gen_mode`)' : ''}.\nNo machine with iproute2 5.10 was at hand: the state is written from 5.10's source by\nscripts/golden-iproute2-5.10.mjs (which lists what 5.10 does not print), from the case captured with 6.1.\n`,
  );
  console.log(`wrote ${dir}`);
}
