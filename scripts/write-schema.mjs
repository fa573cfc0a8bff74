#!/usr/bin/env node
// Writes schemas/topology.schema.json from src/model/schema.ts (built to dist/ first).
// The unit tests fail when the committed file differs from the constant.
import { writeFileSync } from 'node:fs';
import { topologySchema } from '../dist/model/schema.js';

const out = new URL('../schemas/topology.schema.json', import.meta.url);
writeFileSync(out, `${JSON.stringify(topologySchema, null, 2)}\n`);
console.log(`wrote ${out.pathname}`);
