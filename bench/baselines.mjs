// The baselines tsnet is measured against, each building the same state as
// bench/gen-topology.mjs N: N namespaces with lo up, each with a veth into one bridge
// (198.18.0.1/16 on the bridge), an address and a default route via the bridge.
//
// Every baseline is a program the benchmark runs as a whole (one wall-clock time each):
//   batch  the best hand-written `ip -batch` script: one batch for the host, then one
//          `ip -n NS -batch` per sandbox, 2 at a time (xargs -P2), as the issue describes;
//   naive  one `ip` process per command, as a shell script;
//   cni    the CNI bridge + loopback plugins, once per sandbox, 2 at a time;
//   read   the raw read: one `ip -n NS -json -batch` per namespace, 2 at a time;
//   delete one batch of namespace deletions (and the bridge).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const BRIDGE = 'tsn-bench';
const PARALLEL = 2;

export const sandboxName = (i) => `bench-s${i}`;
/** The address tsnet allocates to sandbox i: lowest free in 198.18.0.0/16 after the gateway .1. */
export const sandboxAddress = (i) => {
  const n = i + 2;
  return `198.18.${n >> 8}.${n & 255}`;
};
/** Host end of sandbox i's veth in the baselines. */
const hostEnd = (i) => `bv${i}`;

/** Writes the files a baseline needs into `dir` and returns the argv that runs it. */
export function prepare(kind, n, dir) {
  mkdirSync(dir, { recursive: true });
  const names = Array.from({ length: n }, (_, i) => sandboxName(i));
  writeFileSync(join(dir, 'names'), `${names.join('\n')}\n`);
  switch (kind) {
    case 'batch': {
      const root = [`link add ${BRIDGE} type bridge`, `link set ${BRIDGE} up`, `addr add 198.18.0.1/16 dev ${BRIDGE}`];
      for (let i = 0; i < n; i++) {
        root.push(`netns add ${names[i]}`);
        root.push(`link add ${hostEnd(i)} type veth peer name eth0 netns ${names[i]}`);
        root.push(`link set ${hostEnd(i)} master ${BRIDGE} up`);
      }
      writeFileSync(join(dir, 'root.batch'), `${root.join('\n')}\n`);
      mkdirSync(join(dir, 'ns'), { recursive: true });
      for (let i = 0; i < n; i++) {
        writeFileSync(
          join(dir, 'ns', names[i]),
          ['link set lo up', 'link set eth0 up', `addr add ${sandboxAddress(i)}/16 dev eth0`, 'route add default via 198.18.0.1', ''].join('\n'),
        );
      }
      writeFileSync(
        join(dir, 'run.sh'),
        [
          'set -e',
          `ip -batch ${dir}/root.batch`,
          `xargs -P${PARALLEL} -I{} ip -n {} -batch ${dir}/ns/{} < ${dir}/names`,
          '',
        ].join('\n'),
      );
      return ['sh', join(dir, 'run.sh')];
    }
    case 'naive': {
      const lines = ['set -e', `ip link add ${BRIDGE} type bridge`, `ip link set ${BRIDGE} up`, `ip addr add 198.18.0.1/16 dev ${BRIDGE}`];
      for (let i = 0; i < n; i++) {
        const ns = names[i];
        lines.push(
          `ip netns add ${ns}`,
          `ip -n ${ns} link set lo up`,
          `ip link add ${hostEnd(i)} type veth peer name eth0 netns ${ns}`,
          `ip link set ${hostEnd(i)} master ${BRIDGE}`,
          `ip link set ${hostEnd(i)} up`,
          `ip -n ${ns} link set eth0 up`,
          `ip -n ${ns} addr add ${sandboxAddress(i)}/16 dev eth0`,
          `ip -n ${ns} route add default via 198.18.0.1`,
        );
      }
      writeFileSync(join(dir, 'run.sh'), `${lines.join('\n')}\n`);
      return ['sh', join(dir, 'run.sh')];
    }
    case 'cni': {
      const conf = {
        cniVersion: '1.0.0',
        name: 'bench',
        type: 'bridge',
        bridge: BRIDGE,
        isGateway: true,
        ipMasq: false,
        ipam: { type: 'host-local', dataDir: join(dir, 'ipam'), ranges: [[{ subnet: '198.18.0.0/16', gateway: '198.18.0.1' }]], routes: [{ dst: '0.0.0.0/0' }] },
      };
      const lo = { cniVersion: '1.0.0', name: 'lo', type: 'loopback' };
      writeFileSync(join(dir, 'bridge.json'), JSON.stringify(conf));
      writeFileSync(join(dir, 'lo.json'), JSON.stringify(lo));
      // One sandbox as a runtime does it: make the namespace, run loopback, run bridge.
      writeFileSync(
        join(dir, 'one.sh'),
        [
          'set -e',
          'ns=$1',
          'ip netns add "$ns"',
          'export CNI_COMMAND=ADD CNI_CONTAINERID="$ns" CNI_NETNS="/run/netns/$ns" CNI_PATH=/usr/lib/cni',
          `CNI_IFNAME=lo /usr/lib/cni/loopback < ${dir}/lo.json > /dev/null`,
          `CNI_IFNAME=eth0 /usr/lib/cni/bridge < ${dir}/bridge.json > /dev/null`,
          '',
        ].join('\n'),
      );
      writeFileSync(join(dir, 'run.sh'), `set -e\nxargs -P${PARALLEL} -I{} sh ${dir}/one.sh {} < ${dir}/names\n`);
      return ['sh', join(dir, 'run.sh')];
    }
    case 'read': {
      writeFileSync(join(dir, 'read.batch'), 'link show\naddr show\nroute show\n');
      writeFileSync(join(dir, 'run.sh'), `set -e\nip -json -batch ${dir}/read.batch > /dev/null\nls /run/netns | xargs -P${PARALLEL} -I{} ip -n {} -json -batch ${dir}/read.batch > /dev/null\n`);
      return ['sh', join(dir, 'run.sh')];
    }
    case 'delete': {
      writeFileSync(join(dir, 'delete.sh'), `set -e\n{ ls /run/netns | sed 's/^/netns del /'; echo "link del ${BRIDGE}"; } | ip -batch -\n`);
      return ['sh', join(dir, 'delete.sh')];
    }
    default:
      throw new Error(`unknown baseline ${kind}`);
  }
}

/** Removes whatever a run left in the lab: every namespace and the bridge. */
export const CLEANUP = ['sh', '-c', `ip -all netns delete 2>/dev/null; ip link del ${BRIDGE} 2>/dev/null; true`];
