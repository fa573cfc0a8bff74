// Sysctl keys and values, checked before anything reaches sysctl(8): two keys that name one
// kernel file would flip it on every apply, and a value the kernel cannot parse fails the apply.
import type { PreparedSandbox } from './prepare.js';
import type { Rule } from './rules.js';
import { pathToPointer } from './source.js';

/** What the schema lets through as a key (others it reported already). */
const KEY_SHAPE = /^net\.[A-Za-z0-9_.-]+$/;

/**
 * The file under /proc/sys a key names, as sysctl(8) reads it: "." separates the parts (or "/"
 * when the first separator is "/"; then dots are literal), and the kernel's path lookup skips
 * empty parts, so "net.ipv4..ip_forward" is net/ipv4/ip_forward.
 */
export function sysctlPath(key: string): string {
  const first = /[./]/.exec(key)?.[0];
  const parts = first === '/' ? key.split('/') : key.split('.').map((p) => p.replace(/\//g, '.'));
  return parts.filter((p) => p !== '').join('/');
}

/** A key with an empty part ("net.ipv4..ip_forward", a trailing "."): sysctl warns, or fails on it. */
export const hasEmptyPart = (key: string): boolean => key.split(/[./]/).some((p) => p === '');

/** The key written the way sysctl(8) prints it. */
export const canonicalKey = (key: string): string => sysctlPath(key).replace(/\//g, '.');

/**
 * Namespaced net sysctls whose value is a word or a list that is not all integers. Every other
 * one takes an integer, or integers separated by spaces (ip_local_port_range, tcp_rmem).
 */
export const STRING_SYSCTLS: readonly { name: string; pattern: RegExp }[] = [
  { name: 'net.ipv4.tcp_congestion_control', pattern: /^net\.ipv4\.tcp_congestion_control$/ }, // "cubic", "bbr"
  { name: 'net.ipv4.tcp_allowed_congestion_control', pattern: /^net\.ipv4\.tcp_allowed_congestion_control$/ }, // "reno cubic"
  { name: 'net.ipv4.tcp_fastopen_key', pattern: /^net\.ipv4\.tcp_fastopen_key$/ }, // hex words
  { name: 'net.ipv4.ip_local_reserved_ports', pattern: /^net\.ipv4\.ip_local_reserved_ports$/ }, // "8080,9000-9100"
  { name: 'net.ipv6.conf.<interface>.stable_secret', pattern: /^net\.ipv6\.conf\.[^.]+\.stable_secret$/ }, // an IPv6 address
  { name: 'net.mptcp.scheduler', pattern: /^net\.mptcp\.scheduler$/ },
  { name: 'net.mptcp.path_manager', pattern: /^net\.mptcp\.path_manager$/ },
];

/** An integer (decimal or 0x hex, as the kernel parses them), or several separated by whitespace. */
const INTEGERS = /^\s*-?(0x[0-9a-f]+|\d+)(\s+-?(0x[0-9a-f]+|\d+))*\s*$/i;

/** What is wrong with a sysctl value, or undefined when the kernel can take it. */
export function sysctlValueProblem(key: string, value: unknown): string | undefined {
  if (typeof value === 'boolean') return undefined;
  if (typeof value === 'number') return Number.isInteger(value) ? undefined : 'not a whole number';
  if (typeof value !== 'string') return undefined; // the schema said so
  if (value.trim() === '') return 'empty';
  if (INTEGERS.test(value) || STRING_SYSCTLS.some((s) => s.pattern.test(canonicalKey(key)))) return undefined;
  return 'not a number, and this sysctl takes an integer (true and false mean 1 and 0) or integers separated by spaces';
}

const YES = /^(yes|on|y|enable|enabled)$/i;
const NO = /^(no|off|n|disable|disabled)$/i;

function valueHint(value: unknown): string {
  if (typeof value === 'number') return 'write a whole number';
  if (typeof value === 'string' && value.trim() === '') return 'give a value, or leave the key out';
  if (typeof value === 'string' && YES.test(value.trim())) return 'write 1 (or true)';
  if (typeof value === 'string' && NO.test(value.trim())) return 'write 0 (or false)';
  return `only these take words: ${STRING_SYSCTLS.map((s) => s.name).join(', ')}`;
}

/** Sandboxes whose sysctls tsnet would set (the others are refused for having any). */
const settable = (sb: PreparedSandbox): boolean => sb.mode.kind === 'own' || sb.mode.kind === 'none';

/**
 * Two keys naming one kernel file (net.ipv4..ip_forward beside net.ipv4.ip_forward: every apply
 * would set one and then the other, never converging), and keys with empty parts.
 */
export const sysctlKeys: Rule = (p, r) => {
  for (const sb of p.sandboxes.values()) {
    if (!settable(sb)) continue;
    const byFile = new Map<string, string[]>();
    for (const key of Object.keys(sb.raw.sysctls ?? {})) {
      if (!KEY_SHAPE.test(key)) continue;
      const file = sysctlPath(key);
      byFile.set(file, [...(byFile.get(file) ?? []), key]);
    }
    for (const [file, keys] of byFile) {
      // The first well-formed key stands; the others are its duplicates.
      const first = keys.find((k) => !hasEmptyPart(k)) ?? keys[0]!;
      for (const key of keys.filter((k) => k !== first)) {
        r.error('duplicate-sysctl', `sandbox "${sb.name}" sets ${key} and ${first}, which name one kernel file (/proc/sys/${file})`, [...sb.path, 'sysctls', key], {
          resource: `sandbox.${sb.name}`,
          key: true,
          hint: 'keep one of them',
        });
      }
      if (hasEmptyPart(first)) {
        r.error('bad-sysctl', `the sysctl key "${first}" of sandbox "${sb.name}" has an empty part`, [...sb.path, 'sysctls', first], {
          resource: `sandbox.${sb.name}`,
          key: true,
          hint: `write "${canonicalKey(first)}"`,
        });
      }
    }
  }
};

/** Values the kernel cannot take ("yes" for net.ipv4.ip_forward): refused here rather than by a failing apply. */
export const sysctlValues: Rule = (p, r) => {
  for (const sb of p.sandboxes.values()) {
    if (!settable(sb)) continue;
    for (const [key, value] of Object.entries(sb.raw.sysctls ?? {})) {
      const path = [...sb.path, 'sysctls', key];
      if (!KEY_SHAPE.test(key) || p.broken.paths.has(pathToPointer(path))) continue;
      const problem = sysctlValueProblem(key, value);
      if (problem)
        r.error('bad-sysctl-value', `${key} of sandbox "${sb.name}" is ${JSON.stringify(value)}: ${problem}`, path, { resource: `sandbox.${sb.name}`, hint: valueHint(value) });
    }
  }
};
