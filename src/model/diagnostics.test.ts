import { describe, expect, it } from 'vitest';
import { MAX_SHOWN, SourceLines, collapseRepeats, editDistance, formatDiagnostic, hasErrors, nearest, sortDiagnostics, type Diagnostic } from './diagnostics.js';

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

describe('formatDiagnostic on long lines', () => {
  it('shows a window around the caret, with "..." where the line is cut, and the caret under the same text', () => {
    const line = `a: ${'['.repeat(100_000)}`;
    const text = formatDiagnostic(diag({ code: 'yaml-syntax', start: { line: 1, col: 103 }, end: { line: 1, col: 104 } }), `${line}\n`);
    const [, , , shown, caret] = text.split('\n');
    expect(shown!.length).toBeLessThan(MAX_SHOWN + 20);
    expect(shown).toBe(`1 | ...${'['.repeat(MAX_SHOWN)}...`);
    expect(caret).toBe(`  | ${' '.repeat(3 + 40)}^`);
  });

  it('keeps the start of a long line when the caret is near it, and the end when it is near the end', () => {
    const line = `${'x'.repeat(10)}${'y'.repeat(500)}z`;
    const start = formatDiagnostic(diag({ start: { line: 1, col: 3 }, end: { line: 1, col: 5 } }), line).split('\n');
    expect(start[3]).toBe(`1 | ${line.slice(0, MAX_SHOWN)}...`);
    expect(start[4]).toBe('  |   ^^');
    const end = formatDiagnostic(diag({ start: { line: 1, col: line.length }, end: { line: 1, col: line.length + 1 } }), line).split('\n');
    expect(end[3]).toBe(`1 | ...${line.slice(-MAX_SHOWN)}`);
    expect(end[4]).toBe(`  | ${' '.repeat(3 + MAX_SHOWN - 1)}^`);
  });

  it('never draws a caret wider than the window', () => {
    const line = 'k'.repeat(1000);
    const caret = formatDiagnostic(diag({ start: { line: 1, col: 1 }, end: { line: 1, col: 1001 } }), line).split('\n')[4]!;
    expect(caret).toBe(`  | ${'^'.repeat(MAX_SHOWN)}`);
  });
});

describe('SourceLines', () => {
  it('gives each line without its break, CRLF or LF, and nothing past the end', () => {
    const lines = new SourceLines('a: 1\r\nb: 2\n\nc: 3');
    expect([1, 2, 3, 4].map((n) => lines.line(n))).toEqual(['a: 1', 'b: 2', '', 'c: 3']);
    expect(lines.line(0)).toBeUndefined();
    expect(lines.line(5)).toBeUndefined();
    expect(new SourceLines('x\n').line(2)).toBe('');
  });

  it('formats 20,000 diagnostics of a 20,000-line file (one index, not a split per diagnostic: a split each would run past the test\'s time limit)', () => {
    const text = Array.from({ length: 20_000 }, (_, i) => `  line${i}: ${'v'.repeat(20)}`).join('\n');
    const lines = new SourceLines(text);
    let total = 0;
    for (let i = 1; i <= 20_000; i++) total += formatDiagnostic(diag({ start: { line: i, col: 3 }, end: { line: i, col: 7 } }), lines).length;
    expect(total).toBeGreaterThan(20_000 * 50);
  });
});

describe('collapseRepeats', () => {
  const at = (path: string, message: string, line = 7) => diag({ code: 'unknown-network', path, message, start: { line, col: 19 } });

  it('folds diagnostics of one code at one place reached by other paths (through an alias) into the first, with a count', () => {
    const many = Array.from({ length: 10_000 }, (_, i) => at(`/sandboxes/s1/endpoints/${i}/network`, `endpoint.s1.eth${i} joins network "x"`));
    const out = collapseRepeats([...many, at('/sandboxes/s2/endpoints/0/network', 'elsewhere', 8)]);
    expect(out.map((d) => d.message)).toEqual(['endpoint.s1.eth0 joins network "x" (and 9,999 more like it)', 'elsewhere']);
    // The input is left as it was.
    expect(many[0]!.message).toBe('endpoint.s1.eth0 joins network "x"');
  });

  it('folds identical diagnostics, but keeps different problems of one node apart', () => {
    const missing = (key: string) => diag({ code: 'missing-key', path: '', message: `the topology needs "${key}"`, start: { line: 2, col: 1 } });
    expect(collapseRepeats([missing('version'), missing('name')]).map((d) => d.message)).toEqual(['the topology needs "version"', 'the topology needs "name"']);
    expect(collapseRepeats([missing('version'), missing('version'), missing('version')]).map((d) => d.message)).toEqual(['the topology needs "version" (and 2 more like it)']);
  });

  it('keeps diagnostics without a position, and other codes at the same place', () => {
    const out = collapseRepeats([diag({ start: undefined }), diag({ start: undefined }), diag(), diag({ code: 'bad-type' })]);
    expect(out).toHaveLength(4);
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
