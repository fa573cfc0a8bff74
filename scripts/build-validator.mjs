#!/usr/bin/env node
// Part of the build: writes dist/model/topology-validator.js, the topology schema's validator as
// code (ajv standalone), so that tsnet does not compile the schema each time it starts.
import { writeFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import standaloneCode from 'ajv/dist/standalone/index.js';
import { topologySchema } from '../dist/model/schema.js';
import { AJV_OPTIONS } from '../dist/model/schema-check.js';

const ajv = new Ajv({ ...AJV_OPTIONS, code: { source: true, esm: true } });
const validate = ajv.compile(topologySchema);
let code = standaloneCode.default ? standaloneCode.default(ajv, validate) : standaloneCode(ajv, validate);
// ajv's ESM output still require()s its small runtime helpers (ucs2length for maxLength): give
// the module a require of its own, or the validator would throw the first time it needs one.
code = code.replace('"use strict";', '"use strict";import { createRequire } from "node:module";const require = createRequire(import.meta.url);');
writeFileSync(new URL('../dist/model/topology-validator.js', import.meta.url), code);
