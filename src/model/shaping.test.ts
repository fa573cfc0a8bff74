import { Ajv } from 'ajv';
import type { FromSchema } from 'json-schema-to-ts';
import { describe, expect, it } from 'vitest';
import { AJV_OPTIONS } from './schema-check.js';
import {
  checkShaping,
  defaultBurst,
  defaultTbfLimit,
  describeQdisc,
  desiredQdisc,
  effectiveShaping,
  exactlySame,
  formatPercent,
  formatRate,
  formatSize,
  formatTime,
  mergeShapingClaims,
  parseLimit,
  parsePercent,
  parseRate,
  parseShaping,
  parseSize,
  parseTime,
  PERCENT_PATTERN,
  qdiscChanges,
  qdiscKind,
  readShaping,
  RATE_PATTERN,
  SHAPING_KEY_SYNONYMS,
  SHAPING_KEYS,
  shapingSchema,
  shapingValueProblem,
  SIZE_PATTERN,
  TIME_PATTERN,
  type ParsedShaping,
  type Qdisc,
  type ShapingFile,
  type ShapingPath,
  type ShapingValues,
} from './shaping.js';
import { SourceFile } from './source.js';

const value = <T>(r: { ok: true; value: T } | { ok: false; message: string }): T => {
  if (!r.ok) throw new Error(`expected a value, got: ${r.message}`);
  return r.value;
};
const problem = (r: { ok: boolean; message?: string; hint?: string }): string => {
  if (r.ok) throw new Error('expected a problem');
  return `${r.message ?? ''} | ${r.hint ?? ''}`;
};

describe('parseRate', () => {
  it.each([
    ['8bit', 8],
    ['10kbit', 10_000],
    ['10mbit', 10_000_000],
    ['20Mbit', 20_000_000],
    ['1.5mbit', 1_500_000],
    ['1gbit', 1e9],
    ['2GBIT', 2e9],
    ['1tbit', 1e12],
    ['1kibit', 1024],
    ['1Mibit', 1024 ** 2],
    ['1gibit', 1024 ** 3],
    ['1Bps', 8],
    ['1KBps', 8000],
    ['1MBps', 8e6],
    ['1KiBps', 8192],
    ['0.5GBps', 4e9],
  ])('%s is %d bits/s', (text, bits) => {
    expect(value(parseRate(text))).toBe(bits);
  });

  it('refuses "mbps": tc would read megabytes', () => {
    expect(problem(parseRate('10mbps'))).toMatch(/tc reads "mbps" as bytes per second .*write 10mbit/);
    expect(problem(parseRate('10kbps'))).toMatch(/write 10kbit/);
    expect(problem(parseRate('10bps'))).toMatch(/write 10bit/);
  });

  it.each([
    ['10', /has no unit/],
    ['10mbits', /unknown rate unit "mbits"/],
    ['10 mbit', /unknown rate unit " mbit"/],
    ['0mbit', /is zero/],
    ['0.001kbit', /is below one byte per second/],
    ['4bit', /below one byte per second/],
    ['0.5bit', /not a whole number of bits/],
    ['-10mbit', /below zero/],
    ['fast', /not a rate/],
    ['99999999tbit', /too large/],
  ])('%s is refused', (text, why) => {
    expect(problem(parseRate(text))).toMatch(why);
  });
});

describe('parseTime, parsePercent, parseSize, parseLimit', () => {
  it.each([
    ['40ms', 40_000],
    ['1.5ms', 1500],
    ['250us', 250],
    ['2s', 2e6],
    ['2SEC', 2e6],
    ['3msecs', 3000],
    ['0ms', 0],
  ])('time %s is %d us', (text, us) => {
    expect(value(parseTime(text))).toBe(us);
  });
  it.each([
    ['40', /has no unit/],
    ['40m', /unknown time unit "m"/],
    ['1.5us', /whole number of microseconds/],
    ['-5ms', /below zero/],
    ['300s', /too long/],
  ])('time %s is refused', (text, why) => {
    expect(problem(parseTime(text))).toMatch(why);
  });

  it.each([
    ['0.5%', 5000],
    ['1%', 10_000],
    ['100%', 1_000_000],
    ['0%', 0],
    ['0.0001%', 1],
    ['12.3456%', 123_456],
  ])('percent %s is %d ppm', (text, ppm) => {
    expect(value(parsePercent(text))).toBe(ppm);
  });
  it.each([
    ['120%', /above 100%/],
    ['100.0001%', /above 100%/],
    ['0.00001%', /more than four decimals/],
    ['5', /not a percentage/],
    ['-1%', /not a percentage/],
  ])('percent %s is refused', (text, why) => {
    expect(problem(parsePercent(text))).toMatch(why);
  });

  it.each([
    ['1500b', 1500],
    ['32kb', 32_768],
    ['32K', 32_768],
    ['1.5kb', 1536],
    ['2mb', 2 * 1024 ** 2],
    ['1g', 1024 ** 3],
  ])('size %s is %d bytes', (text, bytes) => {
    expect(value(parseSize(text))).toBe(bytes);
  });
  it.each([
    ['1500', /has no unit/],
    ['1.1kb', /whole number of bytes/],
    ['0kb', /zero/],
    ['10kbit', /unknown size unit "kbit"/],
    ['4gb', /above 4gb/],
  ])('size %s is refused', (text, why) => {
    expect(problem(parseSize(text))).toMatch(why);
  });

  it('limit: a whole number is packets, a size is bytes', () => {
    expect(value(parseLimit(1000))).toEqual({ unit: 'packets', value: 1000 });
    expect(value(parseLimit('100kb'))).toEqual({ unit: 'bytes', value: 102_400 });
    expect(problem(parseLimit(0))).toMatch(/number of packets from 1 up/);
    expect(problem(parseLimit(2.5))).toMatch(/number of packets/);
    expect(problem(parseLimit('1000'))).toMatch(/has no unit/);
  });
});

describe('canonical text', () => {
  it.each([
    [formatRate, 10_000_000, '10mbit'],
    [formatRate, 1_500_000, '1.5mbit'],
    [formatRate, 1_234_567, '1234.567kbit'],
    [formatRate, 1e12, '1tbit'],
    [formatRate, 8, '8bit'],
    [formatTime, 40_000, '40ms'],
    [formatTime, 1500, '1.5ms'],
    [formatTime, 250, '250us'],
    [formatTime, 2_000_000, '2s'],
    [formatTime, 1_234_567, '1234.567ms'],
    [formatPercent, 5000, '0.5%'],
    [formatPercent, 1, '0.0001%'],
    [formatPercent, 1_000_000, '100%'],
    [formatSize, 32_768, '32kb'],
    [formatSize, 1500, '1500b'],
    [formatSize, 3 * 1024 ** 2, '3mb'],
  ] as const)('%o(%d) is %s', (format, n, text) => {
    expect(format(n)).toBe(text);
  });

  it('reads back as the same number (random values)', () => {
    let seed = 12345;
    const random = (max: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return Math.floor((seed / 2 ** 31) * max);
    };
    for (let i = 0; i < 2000; i++) {
      const rate = 8 + random(2 ** 40);
      expect(value(parseRate(formatRate(rate)))).toBe(rate);
      const time = random(274_000_000);
      expect(value(parseTime(formatTime(time)))).toBe(time);
      const ppm = random(1_000_001);
      expect(value(parsePercent(formatPercent(ppm)))).toBe(ppm);
      const size = 1 + random(2 ** 32 - 1);
      expect(value(parseSize(formatSize(size)))).toBe(size);
    }
  });
});

describe('shapingSchema', () => {
  const ajv = new Ajv(AJV_OPTIONS);
  // Embedded as the topology schema will embed it: under a draft-07 root, compiled strictly.
  const validate = ajv.compile({
    $schema: 'http://json-schema.org/draft-07/schema#',
    type: 'object',
    additionalProperties: false,
    properties: { shaping: shapingSchema },
  });
  const errors = (shaping: unknown) => {
    validate({ shaping });
    return (validate.errors ?? []).map((e) => `${e.instancePath} ${e.keyword}`);
  };

  it('accepts the issue\'s example and every unit tc writes', () => {
    expect(errors({ rate: '10mbit', delay: '40ms', jitter: '5ms', loss: '0.5%' })).toEqual([]);
    expect(errors({ rate: '1.5Gbit', burst: '32kb', limit: '100kb' })).toEqual([]);
    expect(errors({ delay: '1s', limit: 1000, duplicate: '1%', corrupt: '0.1%', reorder: '25%', ingress: { rate: '5MBps' } })).toEqual([]);
  });

  it('an unknown unit is an error at the value', () => {
    expect(errors({ rate: '10mbps' })).toEqual(['/shaping/rate pattern']);
    expect(errors({ delay: '40 ms', ingress: { loss: '1' } })).toEqual(['/shaping/delay pattern', '/shaping/ingress/loss pattern']);
    expect(errors({ burst: '10kbit' })).toEqual(['/shaping/burst pattern']);
    expect(errors({ limit: 0 })).toEqual(['/shaping/limit minimum']);
    expect(errors({ limit: '1000' })).toEqual(['/shaping/limit pattern']);
  });

  it('unknown keys, nested ingress and types', () => {
    expect(errors({ latency: '5ms' })).toEqual(['/shaping additionalProperties']);
    expect(errors({ ingress: { ingress: {} } })).toEqual(['/shaping/ingress additionalProperties']);
    expect(errors({ rate: 10 })).toEqual(['/shaping/rate type']);
    expect(errors({ limit: 1.5 })).toEqual(['/shaping/limit type']);
  });

  it('points at the line and column of the bad value', () => {
    const source = new SourceFile('t.yaml', 'shaping:\n  rate: 10mbit\n  delay: 40mss\n');
    validate(source.toJS());
    const [error] = validate.errors ?? [];
    const path = error!.instancePath.split('/').slice(1);
    expect(source.locate(path)?.start).toEqual({ line: 3, col: 10 });
  });

  it('every pattern accepts what the parser accepts (and refuses "mbps")', () => {
    const accepted = (pattern: string, text: string) => new RegExp(pattern).test(text);
    for (const t of ['10mbit', '10Mbit', '1KiBit', '3TBps', '8bit', '2MiBps']) expect(accepted(RATE_PATTERN, t), t).toBe(parseRate(t).ok);
    for (const t of ['10mbps', '10Kbps', '10MiBPS', '10', '10mbits']) expect(accepted(RATE_PATTERN, t), t).toBe(false);
    for (const t of ['40ms', '1.5MS', '3usecs', '2s']) expect(accepted(TIME_PATTERN, t) && parseTime(t).ok, t).toBe(true);
    for (const t of ['40', '40m', '40 ms', '4h']) expect(accepted(TIME_PATTERN, t), t).toBe(false);
    for (const t of ['0.5%', '100%']) expect(accepted(PERCENT_PATTERN, t) && parsePercent(t).ok, t).toBe(true);
    for (const t of ['32kb', '1500b', '2M', '1G']) expect(accepted(SIZE_PATTERN, t) && parseSize(t).ok, t).toBe(true);
    for (const t of ['32kbit', '1500', '2 M']) expect(accepted(SIZE_PATTERN, t), t).toBe(false);
  });

  it('the type the schema implies fits ShapingFile', () => {
    const asWritten: FromSchema<typeof shapingSchema> = { rate: '1mbit', limit: 5, ingress: { delay: '1ms' } };
    const typed: ShapingFile = asWritten;
    expect(typed.ingress?.delay).toBe('1ms');
  });

  it('synonyms point at real keys', () => {
    for (const key of Object.values(SHAPING_KEY_SYNONYMS)) expect(SHAPING_KEYS).toContain(key);
  });
});

interface Reported {
  code: string;
  message: string;
  path: string;
  hint?: string;
  severity: string;
}
function collect(): { report: (code: string, message: string, path: ShapingPath, hint?: string, severity?: 'error' | 'warning') => void; list: Reported[] } {
  const list: Reported[] = [];
  return {
    list,
    report: (code, message, path, hint, severity = 'error') => list.push({ code, message, path: path.join('/'), severity, ...(hint ? { hint } : {}) }),
  };
}
function parsed(raw: ShapingFile): ParsedShaping {
  const { report, list } = collect();
  const out = parseShaping(raw, report);
  if (list.length) throw new Error(`unexpected: ${JSON.stringify(list)}`);
  return out;
}
function check(raw: ShapingFile, opts: { mtu?: number; ingressAllowed?: boolean } = {}): Reported[] {
  const { report, list } = collect();
  checkShaping(parsed(raw), report, opts);
  return list;
}

describe('parseShaping', () => {
  it('gives canonical numbers for both directions', () => {
    expect(parsed({ rate: '10mbit', delay: '40ms', jitter: '5ms', loss: '0.5%', limit: 500, ingress: { rate: '1MBps', burst: '16kb' } })).toEqual({
      egress: { rate: 10_000_000, delay: 40_000, jitter: 5000, loss: 5000, limit: { unit: 'packets', value: 500 } },
      ingress: { rate: 8_000_000, burst: 16_384 },
    });
  });

  it('reports every bad value with its code and path, and leaves it out', () => {
    const { report, list } = collect();
    const out = parseShaping({ rate: '0mbit', loss: '120%', delay: '40', ingress: { burst: '1.1kb', jitter: '1ms' } }, report);
    expect(list.map((d) => `${d.code} ${d.path}`)).toEqual(['bad-rate rate', 'bad-time delay', 'bad-percent loss', 'bad-size ingress/burst']);
    expect(list[2]!.message).toBe('percentage "120%" is above 100%');
    expect(out).toEqual({ egress: {}, ingress: { jitter: 1000 } });
  });

  it('shapingValueProblem gives the schema check the same words', () => {
    expect(shapingValueProblem('rate', '10mbps')).toMatchObject({ code: 'bad-rate', message: 'rate "10mbps": tc reads "mbps" as bytes per second' });
    expect(shapingValueProblem('loss', '1')).toMatchObject({ code: 'bad-percent' });
    expect(shapingValueProblem('rate', '10mbit')).toBeUndefined();
    expect(shapingValueProblem('name', 'x')).toBeUndefined();
  });

  it('an endpoint\'s shaping replaces its network\'s', () => {
    const net = parsed({ rate: '10mbit' });
    const ep = parsed({ delay: '1ms' });
    expect(effectiveShaping(net, ep)).toBe(ep);
    expect(effectiveShaping(net, undefined)).toBe(net);
    expect(effectiveShaping(undefined, undefined)).toBeUndefined();
  });
});

describe('rules', () => {
  it('jitter and reorder need a delay', () => {
    expect(check({ jitter: '5ms', reorder: '25%' }).map((d) => `${d.code} ${d.path}`)).toEqual(['jitter-needs-delay jitter', 'reorder-needs-delay reorder']);
    expect(check({ delay: '0ms', jitter: '5ms' }).map((d) => d.code)).toEqual(['jitter-needs-delay']);
    expect(check({ delay: '10ms', jitter: '5ms', reorder: '25%' })).toEqual([]);
    expect(check({ ingress: { jitter: '1ms' } }).map((d) => d.path)).toEqual(['ingress/jitter']);
  });

  it('burst: needs a rate and tbf, at least one frame, a warning below 1 ms of the rate', () => {
    expect(check({ burst: '32kb' }).map((d) => d.code)).toEqual(['burst-needs-rate']);
    expect(check({ rate: '10mbit', delay: '5ms', burst: '32kb' }).map((d) => d.code)).toEqual(['burst-with-netem']);
    expect(check({ rate: '10mbit', burst: '1000b' })).toMatchObject([{ code: 'burst-too-small', message: 'burst 1000b is below one full-size frame (1514 bytes at MTU 1500): tbf would drop such packets' }]);
    expect(check({ rate: '10mbit', burst: '1000b' }, { mtu: 900 }).map((d) => d.code)).toEqual(['burst-below-rate']);
    expect(check({ rate: '1gbit', burst: '64kb' })).toMatchObject([
      { code: 'burst-below-rate', severity: 'warning', message: 'burst 64kb is less than 1 ms of 1gbit: tbf may not reach the rate', hint: 'at least 125000b; the default, 500000b, is 4 ms of the rate' },
    ]);
    expect(check({ rate: '1gbit', burst: '125000b' })).toEqual([]);
    expect(check({ rate: '8kbit', burst: '1gb' }).map((d) => d.code)).toEqual(['burst-too-large']);
  });

  it('limit: bytes for tbf, packets for netem, and only with something shaped', () => {
    expect(check({ limit: 100 }).map((d) => d.code)).toEqual(['limit-needs-shaping']);
    expect(check({ rate: '10mbit', limit: 100 })).toMatchObject([{ code: 'limit-unit', hint: 'write a size, e.g. "limit: 151400b"' }]);
    expect(check({ delay: '10ms', limit: '150kb' })).toMatchObject([{ code: 'limit-unit', hint: 'write a number of packets, e.g. "limit: 101"' }]);
    expect(check({ rate: '10mbit', limit: '1kb' }).map((d) => d.code)).toEqual(['bad-limit']);
    expect(check({ rate: '10mbit', limit: '100kb' })).toEqual([]);
    expect(check({ loss: '1%', limit: 100 })).toEqual([]);
  });

  it('ingress is refused where there is no other end', () => {
    expect(check({ rate: '1mbit', ingress: { rate: '1mbit' } }, { ingressAllowed: false })).toMatchObject([{ code: 'ingress-not-allowed', path: 'ingress' }]);
    expect(check({ rate: '1mbit', ingress: { rate: '1mbit' } })).toEqual([]);
  });

  it('two claims on one interface merge; a key set twice is reported', () => {
    const { report, list } = collect();
    const merged = mergeShapingClaims(
      [
        { source: 'endpoint.r1.eth1', path: ['sandboxes', 'r1', 'endpoints', 0, 'shaping'], values: { delay: 10_000, rate: 1e6 } },
        { source: 'endpoint.r2.eth1 (ingress)', path: ['sandboxes', 'r2', 'endpoints', 0, 'shaping', 'ingress'], values: { loss: 100, rate: 2e6 } },
      ],
      report,
    );
    expect(merged).toEqual({ delay: 10_000, rate: 1e6, loss: 100 });
    expect(list).toEqual([
      { code: 'duplicate-shaping', message: 'rate of this interface is set twice: by endpoint.r1.eth1 and by endpoint.r2.eth1 (ingress)', path: 'sandboxes/r2/endpoints/0/shaping/ingress/rate', hint: 'keep one of them', severity: 'error' },
    ]);
  });
});

describe('readShaping', () => {
  it('parses, then checks only the directions whose values all parsed', () => {
    const { report, list } = collect();
    const out = readShaping({ rate: '0mbit', burst: '32kb', ingress: { jitter: '5ms' } }, report, { ingressAllowed: true });
    expect(list.map((d) => `${d.code} ${d.path}`)).toEqual(['bad-rate rate', 'jitter-needs-delay ingress/jitter']);
    expect(out).toEqual({ egress: { burst: 32_768 }, ingress: { jitter: 5000 } });
  });

  it('ingress where it is not allowed, even with nothing wrong in it', () => {
    const { report, list } = collect();
    readShaping({ ingress: { rate: '1mbit' } }, report, { ingressAllowed: false });
    expect(list.map((d) => d.code)).toEqual(['ingress-not-allowed']);
  });
});

describe('desiredQdisc', () => {
  const q = (raw: ShapingFile, mtu?: number) => desiredQdisc(parsed(raw).egress, mtu === undefined ? {} : { mtu });

  it('a rate alone is tbf with a 4 ms burst and 50 ms of queue', () => {
    expect(q({ rate: '20mbit' })).toEqual({ kind: 'tbf', rate: 20e6, burst: 10_000, limit: 135_000 });
    expect(defaultBurst(20e6)).toBe(10_000);
    expect(defaultTbfLimit(20e6, 10_000)).toBe(135_000);
  });

  it('low rates get at least two full-size frames of burst and of queue', () => {
    expect(q({ rate: '64kbit' })).toEqual({ kind: 'tbf', rate: 64_000, burst: 3028, limit: 6056 });
    expect(q({ rate: '64kbit' }, 9000)).toEqual({ kind: 'tbf', rate: 64_000, burst: 18_028, limit: 36_056 });
  });

  it('the file\'s burst and limit win', () => {
    expect(q({ rate: '20mbit', burst: '32kb', limit: '64kb' })).toEqual({ kind: 'tbf', rate: 20e6, burst: 32_768, limit: 65_536 });
  });

  it('anything with delay or loss is netem, with its own rate', () => {
    expect(q({ rate: '10mbit', delay: '40ms', jitter: '5ms', loss: '0.5%' })).toEqual({ kind: 'netem', limit: 1000, rate: 10e6, delay: 40_000, jitter: 5000, loss: 5000 });
    expect(q({ duplicate: '1%', limit: 50 })).toEqual({ kind: 'netem', limit: 50, duplicate: 10_000 });
    expect(q({ corrupt: '0.1%' })?.kind).toBe('netem');
    expect(q({ delay: '1ms', reorder: '25%' })).toEqual({ kind: 'netem', limit: 1000, delay: 1000, reorder: 250_000 });
  });

  it('zero values shape nothing', () => {
    expect(q({})).toBeUndefined();
    expect(q({ loss: '0%', delay: '0ms' })).toBeUndefined();
    expect(q({ rate: '1mbit', loss: '0%' })?.kind).toBe('tbf');
    expect(qdiscKind({ loss: 0 })).toBeUndefined();
  });

  it('describeQdisc', () => {
    expect(describeQdisc(q({ rate: '20mbit' }))).toBe('tbf rate 20mbit burst 10000b limit 135000b');
    expect(describeQdisc(q({ rate: '10mbit', delay: '40ms', loss: '0.5%' }))).toBe('netem delay 40ms loss 0.5% rate 10mbit limit 1000 packets');
    expect(describeQdisc(undefined)).toBe('none');
  });
});

describe('qdiscChanges', () => {
  const netem = (v: Partial<Qdisc> & ShapingValues): Qdisc => ({ kind: 'netem', limit: 1000, ...(v as object) }) as Qdisc;

  it('names each key that differs, as plan lines show it', () => {
    expect(qdiscChanges(netem({ delay: 10_000, loss: 10_000 }), netem({ delay: 50_000 })).map((c) => c.text)).toEqual(['delay 10ms -> 50ms', 'loss 1% -> none']);
    expect(qdiscChanges(undefined, { kind: 'tbf', rate: 10e6, burst: 5000, limit: 67_500 }).map((c) => c.text)).toEqual(['rate none -> 10mbit', 'burst none -> 5000b', 'limit none -> 67500b']);
    expect(qdiscChanges(netem({ delay: 1000 }), undefined)).toEqual([
      { key: 'limit', before: '1000 packets', text: 'limit 1000 packets -> none' },
      { key: 'delay', before: '1ms', text: 'delay 1ms -> none' },
    ]);
  });

  it('a change of kind comes first', () => {
    const texts = qdiscChanges({ kind: 'tbf', rate: 10e6, burst: 5000, limit: 67_500 }, netem({ rate: 10e6, delay: 5000 })).map((c) => c.text);
    expect(texts).toEqual(['qdisc tbf -> netem', 'burst 5000b -> none', 'limit 67500b -> 1000 packets', 'delay none -> 5ms']);
  });

  it('nothing for equal qdiscs; the comparison can be loosened', () => {
    const a: Qdisc = { kind: 'tbf', rate: 10e6, burst: 5000, limit: 67_500 };
    expect(qdiscChanges(a, { ...a })).toEqual([]);
    expect(qdiscChanges({ ...a, burst: 4999 }, a).map((c) => c.text)).toEqual(['burst 4999b -> 5000b']);
    expect(qdiscChanges({ ...a, burst: 4999 }, a, (key, x, y, ctx) => (key === 'burst' ? Math.abs((x as number) - (y as number)) <= 1 : exactlySame(key, x, y, ctx)))).toEqual([]);
  });
});
