// Hostile inputs built in memory, for tests of validation's limits.

/** The number of the line that sandbox s<i> (i >= 1) aliases the anchor on, in aliasBomb(). */
export const aliasLine = (i: number, endpoints = 10_000): number => 7 + endpoints + i;

/**
 * Sandbox s0 holds `endpoints` endpoints on an undeclared network, under an anchor; sandboxes
 * s1..s<uses> alias it. With 10,000 endpoints and 99 uses: the red team's 270 KB file.
 */
export function aliasBomb(uses: number, endpoints = 10_000): string {
  return `${[
    'version: 1',
    'name: bomb',
    'networks:',
    '  n: {driver: bridge, subnet: 198.18.0.0/15}',
    'sandboxes:',
    '  s0:',
    '    endpoints: &eps',
    ...Array.from({ length: endpoints }, () => '      - {network: nowhere}'),
    ...Array.from({ length: uses }, (_, i) => `  s${i + 1}: {endpoints: *eps}`),
  ].join('\n')}\n`;
}
