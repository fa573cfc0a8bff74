#!/usr/bin/env node
// The bundle (dist/bundle/, scripts/build-bundle.mjs) starts fastest; dist/cli/ holds the same
// code as compiled modules. After a bare `tsc` the bundle is older than the modules: then they run.
import { statSync } from 'node:fs';

const bundle = new URL('../dist/bundle/main.js', import.meta.url);
const modules = new URL('../dist/cli/main.js', import.meta.url);
const mtime = (url) => {
  try {
    return statSync(url).mtimeMs;
  } catch {
    return -1;
  }
};
await import(mtime(bundle) >= mtime(modules) ? bundle.href : modules.href);
