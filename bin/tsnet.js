#!/usr/bin/env node
// The bundle (dist/bundle/, scripts/build-bundle.mjs) starts fastest; dist/cli/ holds the same
// code as compiled modules.
import { existsSync } from 'node:fs';

const bundle = new URL('../dist/bundle/main.js', import.meta.url);
await import(existsSync(bundle) ? bundle.href : new URL('../dist/cli/main.js', import.meta.url).href);
