// The driver registry: one object per driver, registered once; the schema's network branches
// come from it; nothing outside the driver modules and the registry names a driver.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { topologySchema } from '../model/schema.js';
import { bridge } from './bridge.js';
import { DRIVERS, driverFor, driverNames, indexDrivers } from './registry.js';

describe('the driver registry', () => {
  it('holds every driver once, by the name the file gives', () => {
    expect(driverNames()).toEqual(['bridge', 'macvlan', 'overlay', 'p2p']);
    for (const d of DRIVERS) expect(driverFor(d.name)).toBe(d);
  });

  it('refuses two drivers under one name', () => {
    expect(() => indexDrivers([bridge, { ...bridge }])).toThrow('two drivers are registered as "bridge"');
  });

  it('names the registered drivers when asked for an unknown one', () => {
    expect(() => driverFor('vlan')).toThrow('unknown driver "vlan" (registered: bridge, macvlan, overlay, p2p)');
  });

  it("gives the schema one network branch per driver, keyed on the driver's name", () => {
    const branches = topologySchema.properties.networks.additionalProperties.oneOf as readonly { properties: { driver: { const: string } } }[];
    expect(branches.map((b) => b.properties.driver.const)).toEqual(driverNames());
    for (const d of DRIVERS) expect(branches).toContain(d.schema);
  });
});

describe('nothing outside the drivers and the registry names a driver', () => {
  const SRC = join(import.meta.dirname, '..');
  const files = (dir: string): string[] =>
    readdirSync(dir).flatMap((f) => {
      const p = join(dir, f);
      return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') && !p.endsWith('.test.ts') ? [p] : [];
    });
  /** Where a driver's name is deliberate data: the drivers themselves, and words that are not drivers. */
  const allowed = (file: string, line: string) =>
    /src\/appliers\/(bridge|macvlan|overlay|p2p|veth|registry)\.ts$/.test(file) ||
    // The `bridge` program (a tool, and the fdb read), and the file's `bridge:` key.
    (/src\/executor\/tools\/bridge\.ts$/.test(file) && line.includes("'bridge'")) ||
    (/src\/state\/read\.ts$/.test(file) && line.includes("['bridge', '-json', 'fdb', 'show']")) ||
    (/src\/model\/rules\.ts$/.test(file) && line.includes("[...net.path, 'bridge']"));

  it('holds for every source file', () => {
    const found: string[] = [];
    for (const file of files(SRC)) {
      readFileSync(file, 'utf8')
        .split('\n')
        .forEach((line, i) => {
          if (/'(bridge|macvlan|overlay|p2p)'/.test(line) && !allowed(file, line)) found.push(`${file.slice(SRC.length + 1)}:${i + 1}: ${line.trim()}`);
        });
    }
    expect(found).toEqual([]);
  });
});
