#!/usr/bin/env node
// Part of the build: writes dist/model/topology-validator.js, the topology schema's validator as
// code (ajv standalone), so that tsnet does not compile the schema each time it starts.
import { writeFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import standaloneCode from 'ajv/dist/standalone/index.js';
import { topologySchema } from '../dist/model/schema.js';
import { AJV_OPTIONS } from '../dist/model/schema-check.js';

/** Keywords whose value is one schema, and those whose value is a list or a map of schemas. */
const ONE = ['items', 'additionalProperties', 'propertyNames', 'not', 'if', 'then', 'else', 'contains', 'additionalItems'];
const LIST = ['oneOf', 'anyOf', 'allOf'];
const MAP = ['properties', 'patternProperties', '$defs', 'definitions'];

/** Calls visit(schema, replace) for every subschema below `schema`, in schema positions only. */
function eachSubschema(schema, visit) {
  if (!schema || typeof schema !== 'object' || Array.isArray(schema)) return;
  for (const k of ONE) if (schema[k] && typeof schema[k] === 'object' && !Array.isArray(schema[k])) visit(schema[k], (v) => (schema[k] = v));
  for (const k of LIST) if (Array.isArray(schema[k])) schema[k].forEach((sub, i) => visit(sub, (v) => (schema[k][i] = v)));
  for (const k of MAP) if (schema[k] && typeof schema[k] === 'object') for (const name of Object.keys(schema[k])) visit(schema[k][name], (v) => (schema[k][name] = v));
}

/**
 * The schema with every sizeable subschema that occurs more than once (the shaping block of each
 * driver's network and of endpoints, subnet, gateway, ...: the drivers' branches repeat the common
 * keys) moved to $defs and referenced: ajv then compiles it once, and the validator, loaded at
 * every start, is a third of the size. What it accepts and the errors it gives do not change
 * (a unit test compares both validators on every fixture). The source schema (schema.ts) and the
 * published schemas/topology.schema.json keep the plain form.
 */
export function dedupeSchema(source, minSize = 80) {
  const schema = structuredClone(source);
  const seen = new Map();
  const count = (s) => eachSubschema(s, (sub) => {
    const key = JSON.stringify(sub);
    if (key.length >= minSize) seen.set(key, (seen.get(key) ?? 0) + 1);
    count(sub);
  });
  count(schema);
  const defs = {};
  const names = new Map();
  const replace = (s) => eachSubschema(s, (sub, set) => {
    const key = JSON.stringify(sub);
    if ((seen.get(key) ?? 0) < 2) return replace(sub);
    if (!names.has(key)) {
      const name = `d${names.size}`;
      names.set(key, name);
      defs[name] = sub;
      replace(sub);
    }
    set({ $ref: `#/$defs/${names.get(key)}` });
  });
  replace(schema);
  return names.size ? { ...schema, $defs: { ...(schema.$defs ?? {}), ...defs } } : schema;
}

const ajv = new Ajv({ ...AJV_OPTIONS, inlineRefs: false, code: { source: true, esm: true } });
const validate = ajv.compile(dedupeSchema(topologySchema));
let code = standaloneCode.default ? standaloneCode.default(ajv, validate) : standaloneCode(ajv, validate);
// ajv's ESM output still require()s its small runtime helpers (ucs2length for maxLength): give
// the module a require of its own, or the validator would throw the first time it needs one.
code = code.replace('"use strict";', '"use strict";import { createRequire } from "node:module";const require = createRequire(import.meta.url);');
writeFileSync(new URL('../dist/model/topology-validator.js', import.meta.url), code);
