// The topology file format, version 1, as a JSON Schema (draft-07).
//
// This constant is the single source: `TopologyFile` (types.ts) is derived from it with
// json-schema-to-ts, and schemas/topology.schema.json is written from it by
// `node scripts/write-schema.mjs` (a test fails if the committed file differs). Shape lives here
// (keys, types, name patterns); meaning (addresses, references, ranges) lives in rules.ts.

import { DRIVERS, type DriverSchemas } from '../appliers/registry.js';
import { IFNAME, NAME, NETNS, stringOrList } from './schema-parts.js';
import { shapingSchema } from './shaping.js';

/** One branch per registered driver, keyed on the constant `driver` (see src/appliers/registry.ts). */
const networkBranches = DRIVERS.map((d) => d.schema) as unknown as DriverSchemas;

export const topologySchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://github.com/tsnet/tsnet/schemas/topology.schema.json',
  title: 'tsnet topology, version 1',
  description:
    'A container network topology after Docker\'s Container Network Model: sandboxes (network namespaces) joined to networks by endpoints.',
  type: 'object',
  additionalProperties: false,
  required: ['version', 'name'],
  properties: {
    version: { description: 'File format version.', const: 1 },
    name: {
      description:
        'The topology\'s name: lowercase letters, digits and \'-\'. It is part of every ownership mark and of default namespace names.',
      type: 'string',
      pattern: '^[a-z0-9]([a-z0-9-]*[a-z0-9])?$',
      maxLength: 32,
    },
    hosts: {
      description:
        'The machines the topology spans. Default: one implicit host, "local".',
      type: 'object',
      propertyNames: { pattern: NAME, maxLength: 32 },
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        required: ['via'],
        properties: {
          via: {
            description:
              'How tsnet reaches the host: "local", "ssh <destination>" (OpenSSH, e.g. "ssh root@10.0.0.2" or "ssh ssh://root@h2:2222") or "netns <name>" (a namespace standing in for a host).',
            type: 'string',
            pattern: '^(local|ssh [^\\s-]\\S*|netns (?!\\.\\.?$)[A-Za-z0-9_.-]{1,64})$',
          },
          underlay: {
            description:
              'The host\'s address on the underlay network (overlay tunnels end here).',
            type: 'string',
          },
        },
      },
    },
    networks: {
      description: 'Networks by name.',
      type: 'object',
      propertyNames: { pattern: NAME, maxLength: 63 },
      additionalProperties: {
        type: 'object',
        required: ['driver'],
        discriminator: { propertyName: 'driver' },
        oneOf: networkBranches,
      },
    },
    sandboxes: {
      description: 'Sandboxes (network namespaces) by name.',
      type: 'object',
      propertyNames: { pattern: NAME, maxLength: 63 },
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        properties: {
          mode: {
            description:
              'Omitted: a namespace of its own. "none": a namespace with lo only. "host": the host\'s own stack. "container:<sandbox>": shares that sandbox\'s namespace.',
            type: 'string',
            pattern: '^(none|host|container:[A-Za-z0-9][A-Za-z0-9_-]*)$',
          },
          host: { description: 'The host the sandbox lives on.', type: 'string' },
          external: {
            description:
              'The namespace exists already and is not tsnet\'s (a container\'s): with netns: (a name in /run/netns) or pid: (a process\'s namespace). tsnet adds and removes only its own endpoints and routes in it.',
            type: 'boolean',
          },
          pid: { description: 'With external: true, the process whose network namespace the sandbox is (e.g. docker inspect -f \'{{.State.Pid}}\').', type: 'integer', minimum: 1 },
          netns: {
            description: 'Kernel name of the namespace. Default: "<topology>-<sandbox>".',
            type: 'string',
            pattern: NETNS,
          },
          endpoints: {
            description: 'Interfaces joining the sandbox to networks.',
            type: 'array',
            items: {
              type: 'object',
              additionalProperties: false,
              required: ['network'],
              properties: {
                network: { description: 'The network to join.', type: 'string' },
                name: {
                  description: 'Interface name inside the sandbox. Default: eth0, eth1, ... in order.',
                  type: 'string',
                  pattern: IFNAME,
                },
                ip: stringOrList(
                  'Static address(es), without prefix length (the subnet gives it). Default: allocated from the network\'s ipRange.',
                ),
                mac: { description: 'MAC address, e.g. 02:42:c6:12:00:05.', type: 'string' },
                mtu: { description: 'MTU of this interface. Default: the network\'s.', type: 'integer' },
                up: {
                  description:
                    'false: the interface is down on the sandbox side, as a cable pulled (routes through it are left out until it is up again). Default: true.',
                  type: 'boolean',
                },
                shaping: shapingSchema,
              },
            },
          },
          routes: {
            description: 'Extra routes. A route "to: default" replaces the automatic default route.',
            type: 'array',
            items: {
              type: 'object',
              additionalProperties: false,
              required: ['to', 'via'],
              properties: {
                to: { description: '"default" or a destination in CIDR form.', type: 'string' },
                via: { description: 'Next hop: an address reachable from one of the sandbox\'s endpoints.', type: 'string' },
              },
            },
          },
          ports: {
            description:
              'Published ports, in Docker\'s form "[IP:]HOSTPORT:PORT[/tcp|udp]" ("8080:80", "127.0.0.1:5353:53/udp", "[2001:db8::1]:8443:443/tcp"): traffic to the host\'s addresses (or the one given) is forwarded to the sandbox\'s address on its first bridge network.',
            type: 'array',
            items: { type: 'string', maxLength: 64 },
          },
          sysctls: {
            description: 'Namespaced sysctls set in the sandbox, e.g. net.ipv4.ip_forward: 1.',
            type: 'object',
            propertyNames: { pattern: '^net\\.[A-Za-z0-9_.-]+$' },
            additionalProperties: { type: ['string', 'number', 'boolean'], pattern: '^[^\\n\\r]*$' },
          },
          dns: {
            description:
              'Name servers and search domains written to /etc/netns/<namespace>/resolv.conf, which `tsnet exec` and `ip netns exec` mount over /etc/resolv.conf.',
            type: 'object',
            additionalProperties: false,
            properties: {
              servers: { description: 'Name server addresses (IPv4 or IPv6), at most 3.', type: 'array', maxItems: 3, items: { type: 'string', pattern: '^[0-9A-Fa-f.:]+$' } },
              search: {
                description: 'Search domains, e.g. lab.example.',
                type: 'array',
                maxItems: 6,
                items: { type: 'string', maxLength: 253, pattern: '^[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?(\\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*\\.?$' },
              },
            },
          },
        },
      },
    },
    isolation: {
      description:
        'true: forwarded traffic between the topology\'s bridge networks is dropped by the host (Docker\'s isolation of bridge networks), but for what `allow` lets through. Default: false.',
      type: 'boolean',
    },
    allow: {
      description: 'Exceptions to isolation and to internal networks: traffic from a network or sandbox to another, on one port or all.',
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['from', 'to'],
        properties: {
          from: { description: 'A network or a sandbox.', type: 'string' },
          to: { description: 'A network or a sandbox.', type: 'string' },
          port: { description: 'A TCP port (5432, "5432/tcp") or a UDP port ("53/udp"). Without it: all traffic.', type: ['integer', 'string'] },
        },
      },
    },
    checks: {
      description:
        'Reachability and isolation checks that `tsnet check` (and `tsnet apply --check`) runs inside the sandboxes. Sandbox names, endpoints, ports and addresses are checked by the semantic rules.',
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['from', 'to'],
        properties: {
          from: { description: 'The sandbox the probe starts in.', type: 'string' },
          to: {
            description:
              'A sandbox (all its addresses), one endpoint ("db.eth1"), or an address of the topology (inside one of its subnets, a route\'s destination, or a host\'s underlay).',
            type: 'string',
          },
          port: {
            description: 'A TCP port (5432, "5432/tcp") or a UDP port ("53/udp"), 1..65535. Without it: ICMP echo (ping).',
            type: ['integer', 'string'],
          },
          expect: {
            description: '"reach" (default): the probe must get through. "blocked": no ICMP answer and, with a port, no connection or answer.',
            enum: ['reach', 'blocked'],
          },
        },
      },
    },
  },
} as const;
