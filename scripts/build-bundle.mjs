#!/usr/bin/env node
// Part of the build: bundles the compiled CLI (dist/cli/main.js) and its dependencies into
// dist/bundle/, which bin/tsnet.js runs. Node resolves and reads every module file of every
// package it imports at start-up (execa alone is about eighty files, 70 ms); a bundle is a few
// files. Commands stay in chunks of their own, loaded when they run (`tsnet --version` does not
// load the engine). Nothing changes in what runs: the same code, unminified.
import { copyFileSync, rmSync } from 'node:fs';
import { build } from 'esbuild';

const dist = (p) => new URL(`../dist/${p}`, import.meta.url).pathname;
rmSync(dist('bundle'), { recursive: true, force: true });

await build({
  entryPoints: [dist('cli/main.js')],
  outdir: dist('bundle'),
  entryNames: '[name]',
  chunkNames: 'chunk-[hash]',
  splitting: true,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: 'linked',
  // Whitespace and syntax only (names stay, and the source map maps back): a third fewer bytes
  // for Node to read and parse at every start.
  minifyWhitespace: true,
  minifySyntax: true,
  logLevel: 'warning',
  // Bundled CommonJS packages (ajv) call require() for Node's own modules.
  banner: { js: "import { createRequire as __tsnetRequire } from 'node:module'; const require = __tsnetRequire(import.meta.url);" },
});

// The precompiled schema validator is loaded next to the module that needs it.
copyFileSync(dist('model/topology-validator.js'), dist('bundle/topology-validator.js'));
