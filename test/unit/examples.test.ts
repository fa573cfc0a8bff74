// The examples, the committed JSON Schema and the TypeScript types cannot drift apart:
// - every examples/*.yaml loads without a single diagnostic, and the committed schema (through
//   ajv directly, not through tsnet's loader) accepts its data;
// - schemas/topology.schema.json is exactly `topologySchema` of src/model/schema.ts. When this
//   fails, regenerate it: `npx tsc -p tsconfig.json && node scripts/write-schema.mjs`;
// - `TopologyFile` (derived from the schema) accepts a valid literal and refuses a wrong one.
//   Those assertions are types, checked by the compiler, not by vitest: run
//   `npx tsc -p tsconfig.test.json` (type-checks sources and tests; an unneeded @ts-expect-error
//   is an error there too).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { parse } from 'yaml';
import { loadFile } from '../../src/model/load.js';
import { topologySchema } from '../../src/model/schema.js';
import type { EndpointFile, HostFile, NetworkFile, SandboxFile, TopologyFile } from '../../src/model/types.js';

const ROOT = join(import.meta.dirname, '..', '..');
const EXAMPLES = join(ROOT, 'examples');
const SCHEMA_FILE = join(ROOT, 'schemas', 'topology.schema.json');
const examples = readdirSync(EXAMPLES)
  .filter((f) => f.endsWith('.yaml'))
  .sort();

const committedSchema = (): Record<string, unknown> => JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')) as Record<string, unknown>;

describe('examples', () => {
  it('has one example per mode and driver at least', () => {
    expect(examples.length).toBeGreaterThanOrEqual(5);
    const drivers = new Set(examples.flatMap((f) => Object.values((parse(readFileSync(join(EXAMPLES, f), 'utf8')) as TopologyFile).networks ?? {}).map((n) => n.driver)));
    expect([...drivers].sort()).toEqual(['bridge', 'macvlan', 'overlay', 'p2p']);
  });

  const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false, discriminator: true, allowUnionTypes: true });
  const validate = ajv.compile(committedSchema());

  for (const f of examples) {
    describe(f, () => {
      const file = join(EXAMPLES, f);
      const text = readFileSync(file, 'utf8');

      it('validates without any diagnostic, warnings included', async () => {
        const result = await loadFile(file);
        expect(result.diagnostics).toEqual([]);
        expect(result.topology?.name).toBe((parse(text) as TopologyFile).name);
      });

      it('is accepted by the committed JSON Schema', () => {
        const ok = validate(parse(text));
        expect(validate.errors ?? [], JSON.stringify(validate.errors)).toEqual([]);
        expect(ok).toBe(true);
      });

      it('names the schema for editors on its first line', () => {
        expect(text.split('\n')[0]).toBe('# yaml-language-server: $schema=../schemas/topology.schema.json');
      });
    });
  }

  it('the committed schema refuses what it should (it is not vacuous)', () => {
    expect(validate({ version: 1, name: 'x', networks: { n: { driver: 'bridg' } } })).toBe(false);
    expect(validate({ version: 1, name: 'x', colour: 'blue' })).toBe(false);
    expect(validate({ version: 2, name: 'x' })).toBe(false);
    expect(validate({ version: 1, name: 'x' })).toBe(true);
  });
});

describe('schemas/topology.schema.json', () => {
  it('is exactly topologySchema from src/model/schema.ts (regenerate with: npx tsc && node scripts/write-schema.mjs)', () => {
    expect(committedSchema()).toEqual(JSON.parse(JSON.stringify(topologySchema)));
  });

  it('is written the way scripts/write-schema.mjs writes it', () => {
    expect(readFileSync(SCHEMA_FILE, 'utf8')).toBe(`${JSON.stringify(topologySchema, null, 2)}\n`);
  });
});

describe('TopologyFile', () => {
  // These assertions are types: `npx tsc -p tsconfig.test.json` checks them; at run time they pass.
  it('accepts a valid topology literal', () => {
    const lab = {
      version: 1,
      name: 'lab',
      hosts: { h1: { via: 'local', underlay: '198.19.0.1' } },
      networks: {
        web: { driver: 'bridge', subnet: '198.18.0.0/24', mtu: 1500 },
        lan: { driver: 'macvlan', parent: 'eth0', mode: 'passthru', subnet: ['198.18.1.0/24'] },
        tenant: { driver: 'overlay', vni: 42, subnet: '198.18.2.0/24' },
      },
      sandboxes: {
        a: {
          host: 'h1',
          endpoints: [{ network: 'web', ip: '198.18.0.5', mac: '02:42:c6:12:00:05', name: 'eth0' }],
          routes: [{ to: 'default', via: '198.18.0.1' }],
          sysctls: { 'net.ipv4.ip_forward': 1 },
        },
        b: { mode: 'container:a' },
      },
    } satisfies TopologyFile;
    expectTypeOf(lab).toExtend<TopologyFile>();
    expectTypeOf<NetworkFile['driver']>().toEqualTypeOf<'bridge' | 'macvlan' | 'overlay' | 'p2p'>();
    expectTypeOf<HostFile['via']>().toEqualTypeOf<string>();
    expectTypeOf<EndpointFile['network']>().toEqualTypeOf<string>();
    expectTypeOf<SandboxFile['endpoints']>().toEqualTypeOf<EndpointFile[] | undefined>();
    expect(lab.version).toBe(1);
  });

  it('refuses wrong literals', () => {
    const wrong: TopologyFile[] = [
      // @ts-expect-error 'bridg' is not a driver
      { version: 1, name: 'lab', networks: { web: { driver: 'bridg' } } },
      // @ts-expect-error version is the constant 1
      { version: 2, name: 'lab' },
      // @ts-expect-error a bridge network has no parent (one branch per driver)
      { version: 1, name: 'lab', networks: { web: { driver: 'bridge', parent: 'eth0' } } },
      // @ts-expect-error the name is required
      { version: 1 },
      // @ts-expect-error an endpoint needs its network
      { version: 1, name: 'lab', sandboxes: { a: { endpoints: [{ ip: '198.18.0.5' }] } } },
      // @ts-expect-error mtu is a number
      { version: 1, name: 'lab', networks: { web: { driver: 'bridge', mtu: '1500' } } },
    ];
    expect(wrong).toHaveLength(6);
  });
});
