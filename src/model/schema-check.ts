// Checks a document against the schema with ajv and turns ajv's errors into diagnostics a
// person can act on: one per problem, at the offending node, with "did you mean" for typos.
import type { ErrorObject, Options, ValidateFunction } from 'ajv';
import { driverNames } from '../appliers/registry.js';
import { nearest, type Diagnostic } from './diagnostics.js';
import { topologySchema } from './schema.js';
import { SHAPING_KEY_SYNONYMS, shapingValueProblem } from './shaping.js';
import { pathToPointer, pointerToPath, valueAt, type PathSegment, type SourceFile } from './source.js';

/** ajv's options for the topology schema; scripts/build-validator.mjs compiles with the same. */
export const AJV_OPTIONS: Options = { allErrors: true, verbose: true, strict: true, strictRequired: false, discriminator: true, allowUnionTypes: true };

// The build writes the schema's validator as code (ajv standalone) next to this module:
// loading it takes a few milliseconds where compiling the schema takes about a hundred.
// Without it (tests run the sources), ajv compiles the schema on first use.
// (dist/model/ holds it for the compiled modules, dist/bundle/ for the bundle.)
async function loadPrecompiled(): Promise<ValidateFunction | undefined> {
  const m = (await import(new URL('./topology-validator.js', import.meta.url).href).catch(() => undefined)) as { default: ValidateFunction } | undefined;
  return m?.default;
}
let compiled: ValidateFunction | undefined = await loadPrecompiled();

async function compile(): Promise<ValidateFunction> {
  const m = (await import('ajv')) as unknown as { Ajv?: typeof import('ajv').Ajv; default: typeof import('ajv').Ajv };
  const Ajv = m.Ajv ?? m.default;
  return new Ajv(AJV_OPTIONS).compile(topologySchema);
}
if (!compiled) compiled = await compile();

function validator(): ValidateFunction {
  return compiled!;
}

export interface SchemaResult {
  diagnostics: Diagnostic[];
  /** JSON pointers of nodes that failed; semantic rules skip the networks/sandboxes/hosts under them. */
  brokenPaths: string[];
}

export function checkSchema(source: SourceFile, data: unknown): SchemaResult {
  const validate = validator();
  if (validate(data)) return { diagnostics: [], brokenPaths: [] };
  const errors = prune(validate.errors ?? []);
  const diagnostics: Diagnostic[] = [];
  const seen = new Set<string>();
  for (const e of errors) {
    const d = toDiagnostic(source, data, e);
    const key = `${d.code}|${d.path}|${d.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    diagnostics.push(d);
  }
  return { diagnostics, brokenPaths: errors.map((e) => e.instancePath) };
}

/**
 * ajv reports every failed branch of an anyOf and every keyword at a node. Keep the most useful:
 * drop branch errors under an anyOf (the anyOf error says it better) and an object's type error
 * when its discriminator already failed.
 */
function prune(errors: ErrorObject[]): ErrorObject[] {
  const anyOfPaths = new Set(errors.filter((e) => e.keyword === 'anyOf').map((e) => e.instancePath));
  return errors.filter((e) => {
    if (e.keyword !== 'anyOf' && /\/anyOf\/\d+\//.test(e.schemaPath)) {
      // A branch error: keep only when no anyOf error stands at this path or above it.
      for (const p of anyOfPaths) if (e.instancePath === p || e.instancePath.startsWith(`${p}/`)) return false;
    }
    if (e.keyword === 'if') return false;
    // A network without "driver" fails both "required" and the discriminator: say it once.
    if (e.keyword === 'discriminator' && errors.some((o) => o.keyword === 'required' && o.instancePath === e.instancePath))
      return false;
    return true;
  });
}

/** Human names of the objects a path points into, for messages. */
function describe(path: readonly PathSegment[]): string {
  const [top, name, sub, index] = path;
  if (top === 'networks' && name !== undefined) return `network "${name}"`;
  if (top === 'hosts' && name !== undefined) return `host "${name}"`;
  if (top === 'sandboxes' && name !== undefined) {
    if (sub === 'endpoints' && index !== undefined) return `endpoint ${Number(index) + 1} of sandbox "${name}"`;
    if (sub === 'routes' && index !== undefined) return `route ${Number(index) + 1} of sandbox "${name}"`;
    if (sub === 'sysctls') return `the sysctls of sandbox "${name}"`;
    return `sandbox "${name}"`;
  }
  if (top === 'checks' && name !== undefined) return `check ${Number(name) + 1}`;
  if (top === 'networks') return 'networks';
  if (top === 'sandboxes') return 'sandboxes';
  if (top === 'hosts') return 'hosts';
  return 'the topology';
}

const typeName = (v: unknown): string =>
  v === null
    ? 'empty'
    : Array.isArray(v)
      ? 'a list'
      : typeof v === 'object'
        ? 'a mapping'
        : typeof v === 'number' && !Number.isInteger(v)
          ? 'a fraction'
          : `a ${typeof v}`;

/** JSON Schema types in YAML words: "object" is a mapping, "array" a list. */
function expectedType(type: string | readonly string[]): string {
  const words: Record<string, string> = {
    object: 'a mapping',
    array: 'a list',
    string: 'a string',
    integer: 'a whole number',
    number: 'a number',
    boolean: 'a boolean',
    null: 'empty',
  };
  const list = (typeof type === 'string' ? type.split(',') : [...type]).map((t) => words[t] ?? t);
  return list.length > 1 ? `${list.slice(0, -1).join(', ')} or ${list[list.length - 1]}` : (list[0] ?? 'something else');
}

/**
 * What a path names, for "X must be ...": an object of its own ("endpoint 2 of sandbox "web"",
 * "network "lan"") or a field in one (""mtu" in network "lan"").
 */
function subjectOf(path: readonly PathSegment[]): string {
  if (path.length === 1) return `"${String(path[0])}"`;
  const self = describe(path);
  const parent = describe(path.slice(0, -1));
  if (self !== parent) return self;
  return `"${String(path[path.length - 1])}" in ${parent}`;
}


/** Keys people write from habit (Docker, Compose, other tools), and the key tsnet calls them. */
const SYNONYMS: Readonly<Record<string, string>> = {
  address: 'ip',
  addresses: 'ip',
  ipv4: 'ip',
  ipv6: 'ip',
  ipv4_address: 'ip',
  ipv6_address: 'ip',
  gw: 'gateway',
  type: 'driver',
  interface: 'name',
  ifname: 'name',
  net: 'network',
  subnets: 'subnet',
  ip_range: 'ipRange',
  namespace: 'netns',
  containers: 'sandboxes',
  services: 'sandboxes',
};

/** The known key an unknown one most likely means: a near spelling, or a habit from elsewhere. */
export function suggestKey(key: string, known: readonly string[]): string | undefined {
  const habits = Object.keys(SYNONYMS).filter((k) => known.includes(SYNONYMS[k]!));
  const near = nearest(key, [...known, ...habits]);
  return near === undefined ? undefined : known.includes(near) ? near : SYNONYMS[near];
}

/** The allowed keys at an object schema, for "did you mean". */
function knownKeys(schema: unknown): string[] {
  if (schema && typeof schema === 'object' && 'properties' in schema) {
    return Object.keys((schema as { properties: object }).properties);
  }
  return [];
}

/** A key of `obj` that is `wanted` but for spaces around it. */
function spacedKey(obj: unknown, wanted: string): string | undefined {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) return undefined;
  return Object.keys(obj).find((k) => k !== wanted && k.trim() === wanted);
}

/** " (the key has a trailing space)" when spaces are all that tell `key` from `meant`. */
function spaceNote(key: string, meant: string): string {
  if (key === meant || key.trim() !== meant) return '';
  const lead = key.length - key.trimStart().length;
  const trail = key.length - key.trimEnd().length;
  const what = (n: number, where: string) => (n === 1 ? `a ${where} space` : `${n} ${where} spaces`);
  return ` (the key has ${lead && trail ? `${what(lead, 'leading')} and ${what(trail, 'trailing')}` : lead ? what(lead, 'leading') : what(trail, 'trailing')})`;
}

function patternMeaning(path: readonly PathSegment[], propertyName: boolean): { code: string; what: string } {
  const field = String(path[path.length - 1] ?? '');
  const [top] = path;
  if (propertyName && top === 'sandboxes' && path.includes('sysctls'))
    return { code: 'bad-sysctl', what: 'a sysctl in a network namespace must start with "net." (e.g. net.ipv4.ip_forward)' };
  if (propertyName)
    return {
      code: 'bad-name',
      what: 'names start with a letter or digit and hold only letters, digits, "-" and "_"',
    };
  if (top === 'sandboxes' && path[2] === 'sysctls')
    return { code: 'bad-value', what: 'a sysctl value is one line: sysctl takes "key=value" arguments' };
  if (field === 'name' && path.length === 1)
    return { code: 'bad-topology-name', what: 'a topology name holds lowercase letters, digits and "-", at most 32' };
  if (field === 'via') return { code: 'bad-via', what: 'via is "local", "ssh <destination>" or "netns <name>"' };
  if (field === 'mode') return { code: 'bad-mode', what: 'a sandbox mode is "none", "host" or "container:<sandbox>"' };
  if (field === 'netns')
    return { code: 'kernel-name', what: 'a namespace name holds letters, digits, ".", "-" and "_", at most 64' };
  return {
    code: 'kernel-name',
    what: 'an interface name is 1 to 15 characters: letters, digits and . _ - @ +, and not "." or ".."',
  };
}

/**
 * A value under `shaping:` that failed its pattern, type or minimum: the same code and words as
 * the shaping parser gives it (src/model/shaping.ts), so "10mbps" reads alike from both.
 */
function shapingDiagnostic(path: readonly PathSegment[], data: unknown, e: ErrorObject): { code: string; message: string; hint?: string } | undefined {
  if (!['pattern', 'type', 'minimum'].includes(e.keyword)) return undefined;
  const at = path.lastIndexOf('shaping');
  if (at < 0 || path.length < at + 2) return undefined;
  const problem = shapingValueProblem(String(path[path.length - 1]), valueAt(data, path));
  return problem && { code: problem.code, message: `${problem.message} (${describe(path.slice(0, at))}, shaping)`, ...(problem.hint ? { hint: problem.hint } : {}) };
}

/** "latency" -> "delay": tc's and other tools' words for shaping keys, then near spellings. */
function suggestShapingKey(key: string, known: readonly string[]): string | undefined {
  const synonym = SHAPING_KEY_SYNONYMS[key.trim().toLowerCase()];
  return synonym && known.includes(synonym) ? synonym : nearest(key, known);
}

function toDiagnostic(source: SourceFile, data: unknown, e: ErrorObject): Diagnostic {
  const path = pointerToPath(e.instancePath);
  const base = { severity: 'error' as const, file: source.file };
  const at = (p: readonly PathSegment[], which: 'key' | 'value' = 'value') => {
    const span = source.locate(p, which);
    return { path: pathToPointer(p), ...(span ? { start: span.start, end: span.end } : {}) };
  };
  const where = describe(path);
  const shaping = shapingDiagnostic(path, data, e);
  if (shaping) return { ...base, ...shaping, ...at(path) };
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = String((e.params as { additionalProperty: string }).additionalProperty);
      const known = knownKeys(e.parentSchema);
      const suggestion = known.includes(key.trim()) ? key.trim() : path.includes('shaping') ? suggestShapingKey(key, known) : suggestKey(key, known);
      return {
        ...base,
        code: 'unknown-key',
        message: `unknown key "${key}" in ${where}`,
        ...at([...path, key], 'key'),
        hint: suggestion ? `did you mean "${suggestion}"?${spaceNote(key, suggestion)}` : `known keys: ${known.join(', ')}`,
      };
    }
    case 'required': {
      const key = String((e.params as { missingProperty: string }).missingProperty);
      // "driver " for "driver": name the key that is there, at its own line, rather than the one that is not.
      const spaced = spacedKey(valueAt(data, path), key);
      if (spaced !== undefined)
        return { ...base, code: 'unknown-key', message: `unknown key "${spaced}" in ${where}`, ...at([...path, spaced], 'key'), hint: `did you mean "${key}"?${spaceNote(spaced, key)}` };
      return { ...base, code: 'missing-key', message: `${where} needs "${key}"`, ...at(path, 'key') };
    }
    case 'const': {
      if (path.length === 1 && path[0] === 'version')
        return { ...base, code: 'bad-version', message: 'this tsnet reads topology files of version 1', ...at(path), hint: 'write "version: 1"' };
      return { ...base, code: 'bad-value', message: `${where}: must be ${JSON.stringify(e.params)}`, ...at(path) };
    }
    case 'enum': {
      const allowed = (e.params as { allowedValues: unknown[] }).allowedValues.map(String);
      const value = String(valueAt(data, path));
      const suggestion = nearest(value, allowed);
      return {
        ...base,
        code: 'bad-value',
        message: `"${value}" is not a valid ${String(path[path.length - 1])} for ${where}`,
        ...at(path),
        hint: suggestion ? `did you mean "${suggestion}"? (one of ${allowed.join(', ')})` : `one of ${allowed.join(', ')}`,
      };
    }
    case 'discriminator': {
      const value = valueAt(data, [...path, 'driver']);
      const drivers = driverNames();
      if (typeof value !== 'string') {
        return { ...base, code: 'unknown-driver', message: `${where}: driver must be one of ${drivers.join(', ')}`, ...at([...path, 'driver']) };
      }
      const suggestion = nearest(value, drivers);
      return {
        ...base,
        code: 'unknown-driver',
        message: `${where}: unknown driver "${value}"`,
        ...at([...path, 'driver']),
        hint: suggestion ? `did you mean "${suggestion}"?` : `known drivers: ${drivers.join(', ')}`,
      };
    }
    case 'pattern':
    case 'maxLength':
    case 'minLength': {
      const propertyName = (e.params as { propertyName?: string }).propertyName;
      if (e.propertyName !== undefined || propertyName !== undefined) {
        const name = e.propertyName ?? propertyName ?? '';
        const meaning = patternMeaning(path, true);
        return { ...base, code: meaning.code, message: `"${name}" is not a valid name in ${where}`, ...at([...path, name], 'key'), hint: meaning.what };
      }
      const meaning = patternMeaning(path, false);
      const value = valueAt(data, path);
      return {
        ...base,
        code: meaning.code,
        message: `${JSON.stringify(value)} is not valid for "${String(path[path.length - 1])}" in ${where}`,
        ...at(path),
        hint: meaning.what,
      };
    }
    case 'propertyNames': {
      const name = String((e.params as { propertyName?: string }).propertyName ?? '');
      const meaning = patternMeaning(path, true);
      return { ...base, code: meaning.code, message: `"${name}" is not a valid name in ${where}`, ...at([...path, name], 'key'), hint: meaning.what };
    }
    case 'type':
    case 'anyOf': {
      const value = valueAt(data, path);
      if (path.length === 0)
        return { ...base, code: 'bad-type', message: 'a topology file is a YAML mapping with version, name, networks and sandboxes', ...at(path) };
      const subject = subjectOf(path);
      if (e.keyword === 'anyOf' && Array.isArray(value)) {
        // "ip: []" or "ip: [1]": say what is wrong with the list, at the item that is wrong.
        if (value.length === 0) return { ...base, code: 'bad-type', message: `${subject} must not be an empty list`, ...at(path) };
        const i = value.findIndex((v) => typeof v !== 'string');
        if (i >= 0)
          return { ...base, code: 'bad-type', message: `item ${i + 1} of ${subject} must be a string, not ${typeName(value[i])}`, ...at([...path, i]), hint: 'quote it' };
      }
      const expected = e.keyword === 'anyOf' ? 'a string or a list of strings' : expectedType((e.params as { type: string | string[] }).type);
      return {
        ...base,
        code: 'bad-type',
        message: `${subject} must be ${expected}, not ${typeName(value)}`,
        ...at(path),
        ...(typeof value === 'number' && expected === 'a string' ? { hint: 'quote it' } : {}),
        ...(value === null && expected === 'a mapping' ? { hint: 'write "{}" for an empty mapping' } : {}),
      };
    }
    case 'minItems':
      return { ...base, code: 'bad-type', message: `${subjectOf(path)} must not be an empty list`, ...at(path) };
    default:
      return { ...base, code: 'schema', message: `${where}: ${e.message ?? 'is not valid'}`, ...at(path) };
  }
}
