import { describe, expect, it } from 'vitest';
import { editDistance, formatDiagnostic, hasErrors, nearest, sortDiagnostics, type Diagnostic } from './diagnostics.js';

const diag = (over: Partial<Diagnostic> = {}): Diagnostic => ({
  severity: 'error',
  code: 'unknown-key',
  message: 'unknown key "subnt" in network "web"',
  file: 'lab.yaml',
  start: { line: 3, col: 5 },
  end: { line: 3, col: 10 },
  ...over,
});

describe('editDistance', () => {
  it('counts insertions, deletions, substitutions and swaps of neighbours as one edit each', () => {
    expect(editDistance('subnet', 'subnet')).toBe(0);
    expect(editDistance('subnt', 'subnet')).toBe(1);
    expect(editDistance('subnets', 'subnet')).toBe(1);
    expect(editDistance('sabnet', 'subnet')).toBe(1);
    expect(editDistance('sbunet', 'subnet')).toBe(1);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('kitten', 'sitting')).toBe(3);
  });
});

describe('nearest ("did you mean")', () => {
  const keys = ['version', 'name', 'hosts', 'networks', 'sandboxes'];

  it('suggests the closest candidate for a plausible typo', () => {
    expect(nearest('netwroks', keys)).toBe('networks');
    expect(nearest('sandboxs', keys)).toBe('sandboxes');
    expect(nearest('Version', keys)).toBe('version');
    expect(nearest('nmae', keys)).toBe('name');
  });

  it('suggests nothing when no candidate is near enough', () => {
    expect(nearest('colour', keys)).toBeUndefined();
    expect(nearest('x', keys)).toBeUndefined();
    expect(nearest('anything', [])).toBeUndefined();
  });

  it('allows more edits for longer words', () => {
    expect(nearest('ab', ['xy'])).toBeUndefined();
    expect(nearest('sandbxoes', ['sandboxes'])).toBe('sandboxes');
    expect(nearest('sndbxes', ['sandboxes'])).toBe('sandboxes');
  });
});

describe('formatDiagnostic', () => {
  const source = 'version: 1\nnetworks:\n  web:\n    subnt: 198.18.0.0/24\n';

  it('shows the header, the location, the line and a caret under the offending text, with the hint', () => {
    const text = formatDiagnostic(diag({ start: { line: 4, col: 5 }, end: { line: 4, col: 10 }, hint: 'did you mean "subnet"?' }), source);
    expect(text.split('\n')).toEqual([
      'error[unknown-key]: unknown key "subnt" in network "web"',
      '  --> lab.yaml:4:5',
      '  |',
      '4 |     subnt: 198.18.0.0/24',
      '  |     ^^^^^ did you mean "subnet"?',
    ]);
  });

  it('names the resource and pads the gutter for wide line numbers', () => {
    const long = `${'#\n'.repeat(11)}    mtu: 10\n`;
    const text = formatDiagnostic(diag({ code: 'mtu-range', message: 'mtu 10 is out of range', resource: 'network.web', start: { line: 12, col: 10 }, end: { line: 12, col: 12 } }), long);
    expect(text.split('\n')).toEqual([
      'error[mtu-range]: mtu 10 is out of range',
      '  --> lab.yaml:12:10 (network.web)',
      '   |',
      '12 |     mtu: 10',
      '   |          ^^',
    ]);
  });

  it('draws one caret when the span ends on another line or is empty', () => {
    const text = formatDiagnostic(diag({ start: { line: 2, col: 1 }, end: { line: 5, col: 1 } }), source);
    expect(text.split('\n').at(-1)).toBe('  | ^');
  });

  it('falls back to the file alone, with the hint on its own line, without source or position', () => {
    expect(formatDiagnostic(diag({ start: undefined, end: undefined, hint: 'check the path' }), undefined).split('\n')).toEqual([
      'error[unknown-key]: unknown key "subnt" in network "web"',
      '  --> lab.yaml',
      '  = check the path',
    ]);
  });

  it('colours only when asked', () => {
    expect(formatDiagnostic(diag(), source)).not.toContain('\u001b[');
    expect(formatDiagnostic(diag(), source, true)).toContain('\u001b[1;31m');
    expect(formatDiagnostic(diag({ severity: 'warning' }), source)).toMatch(/^warning\[/);
  });
});

describe('sortDiagnostics and hasErrors', () => {
  it('sorts by file, line, column and code', () => {
    const sorted = sortDiagnostics([
      diag({ file: 'b.yaml', start: { line: 1, col: 1 } }),
      diag({ start: { line: 9, col: 1 } }),
      diag({ code: 'b', start: { line: 2, col: 3 } }),
      diag({ code: 'a', start: { line: 2, col: 3 } }),
      diag({ start: { line: 2, col: 1 } }),
    ]);
    expect(sorted.map((d) => `${d.file}:${d.start!.line}:${d.start!.col}:${d.code}`)).toEqual([
      'b.yaml:1:1:unknown-key',
      'lab.yaml:2:1:unknown-key',
      'lab.yaml:2:3:a',
      'lab.yaml:2:3:b',
      'lab.yaml:9:1:unknown-key',
    ]);
  });

  it('tells errors from warnings', () => {
    expect(hasErrors([diag({ severity: 'warning' })])).toBe(false);
    expect(hasErrors([diag({ severity: 'warning' }), diag()])).toBe(true);
    expect(hasErrors([])).toBe(false);
  });
});
