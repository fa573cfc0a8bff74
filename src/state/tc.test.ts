import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { desiredQdisc, parseShaping, type Qdisc, type ShapingFile } from '../model/shaping.js';
import {
  checkLinkQdisc,
  deviceQdiscs,
  diffQdisc,
  kernelSame,
  parseTcQdiscs,
  shortLabel,
  TC_SHOW_ARGV,
  tbfByteTolerance,
  tcDeleteArgv,
  tcReplaceArgv,
  tcRestoreArgv,
  tcShowDevArgv,
  timeTolerance,
  type DeviceQdiscs,
} from './tc.js';

const FIXTURES = join(import.meta.dirname, '..', '..', 'test', 'fixtures', 'tc');
const fixture = (name: string) => readFileSync(join(FIXTURES, name), 'utf8');

function devices(name: string, dev?: string): Map<string, DeviceQdiscs> {
  const parsed = parseTcQdiscs(fixture(name), dev === undefined ? {} : { dev });
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.devices;
}
const device = (name: string, dev: string, only = false) => deviceQdiscs(devices(name, only ? dev : undefined), dev);

/** The qdisc tsnet wants for `shaping:` as written. */
function want(raw: ShapingFile): Qdisc | undefined {
  const parsed = parseShaping(raw, (code, message) => {
    throw new Error(`${code}: ${message}`);
  });
  return desiredQdisc(parsed.egress);
}
const diffTexts = (desired: Qdisc | undefined, observed: DeviceQdiscs) => diffQdisc(desired, observed).map((c) => c.text);

describe('parseTcQdiscs on captured output (iproute2 6.1, Linux 6.18)', () => {
  it('defaults: noqueue on every up link, and a device tc does not list holds noop', () => {
    const all = devices('default.json');
    expect([...all.keys()].sort()).toEqual(['br0', 'lo', 'v0', 'v1']);
    expect(all.get('v0')!.root).toEqual({ type: 'other', handle: '0:', kind: 'noqueue' });
    expect(diffTexts(undefined, all.get('v0')!)).toEqual([]);
    const down = deviceQdiscs(devices('down-noop.json'), 'v2');
    expect(down.root).toMatchObject({ type: 'other', kind: 'noop' });
    expect(diffTexts(undefined, down)).toEqual([]);
  });

  it('one device: tc leaves the name out, the caller gives it', () => {
    expect(device('default-dev.json', 'v0', true).root).toMatchObject({ kind: 'noqueue' });
    expect(parseTcQdiscs(fixture('default-dev.json'))).toEqual({ ok: false, error: 'tc qdisc show: a noqueue qdisc without a device' });
  });

  it('tsnet\'s 20mbit tbf reads back as the desired qdisc, with and without -r, and with -d', () => {
    const desired = want({ rate: '20mbit' });
    for (const name of ['tbf-20mbit.json', 'tbf-20mbit-no-raw.json', 'tbf-20mbit-details.json']) {
      const d = device(name, 'v0', true);
      expect(d.root, name).toEqual({ type: 'shaping', handle: expect.stringMatching(/^80..:$/), qdisc: { kind: 'tbf', rate: 20e6, burst: 10_000, limit: 135_000 }, extras: [] });
      expect(diffTexts(desired, d), name).toEqual([]);
    }
  });

  it('rates from 64kbit to 40gbit: the rounding stays inside the tolerance', () => {
    const all = devices('tbf-rates.json');
    const cases: [string, Qdisc | undefined, string][] = [
      ['v0', want({ rate: '64kbit' }), 'burst 3028 reads 3027'],
      ['v1', want({ rate: '1gbit' }), 'exact'],
      ['v4', want({ rate: '40gbit' }), 'burst 20000000 reads 19995000: one microsecond at 5 GB/s'],
      ['v5', want({ rate: '1234567bit', burst: '4321b', limit: '99999b' }), 'a rate the kernel floors to whole bytes'],
    ];
    for (const [dev, desired, why] of cases) expect(diffTexts(desired, all.get(dev)!), `${dev}: ${why}`).toEqual([]);
    expect(all.get('v4')!.root).toMatchObject({ qdisc: { rate: 40e9, burst: 19_995_000, limit: 270_000_000 } });
  });

  it('the tolerance is not loose enough to hide a real change', () => {
    const all = devices('tbf-rates.json');
    expect(diffTexts({ kind: 'tbf', rate: 40e9, burst: 20_010_000, limit: 270_000_000 }, all.get('v4')!)).toEqual(['burst 19995000b -> 20010000b']);
    expect(diffTexts({ kind: 'tbf', rate: 72_000, burst: 3028, limit: 6056 }, all.get('v0')!)).toEqual(['rate 64kbit -> 72kbit']);
    expect(diffTexts({ kind: 'tbf', rate: 1e9, burst: 500_000, limit: 6_760_000 }, all.get('v1')!)).toEqual(['limit 6750000b -> 6760000b']);
  });

  it('a tbf made by hand with burst 32kb and latency 50ms', () => {
    const d = device('tbf-by-hand.json', 'v0', true);
    expect(d.root).toMatchObject({ qdisc: { kind: 'tbf', rate: 20e6, burst: 32_767, limit: 157_768 } });
    expect(diffTexts(want({ rate: '20mbit', burst: '32kb', limit: '157768b' }), d)).toEqual([]);
    expect(diffTexts(want({ rate: '20mbit' }), d)).toEqual(['burst 32767b -> 10000b', 'limit 157768b -> 135000b']);
  });

  it('a rate changed by hand is named', () => {
    expect(diffTexts(want({ rate: '20mbit' }), device('tbf-changed.json', 'v0', true))).toEqual(['rate 5mbit -> 20mbit']);
  });

  it('a qdisc grafted under tsnet\'s tbf is a change, and makes the device one tsnet cannot restore', () => {
    const d = device('tbf-with-child.json', 'v0', true);
    expect(d.children.map((c) => `${c.kind} ${c.handle} ${c.parent}`)).toEqual(['pfifo 10: 1:1']);
    expect(diffTexts(want({ rate: '20mbit' }), d)).toEqual(['qdisc pfifo under the root -> none']);
    expect(tcRestoreArgv(d)).toBeUndefined();
  });

  it('htb and hand-added qdiscs: foreign roots and children; ingress qdiscs are kept apart', () => {
    const htb = devices('htb.json').get('v0')!;
    expect(htb.root).toEqual({ type: 'other', handle: '1:', kind: 'htb' });
    expect(diffTexts(undefined, htb)).toEqual(['qdisc htb -> none', 'qdisc pfifo under the root -> none']);
    expect(diffTexts(want({ rate: '10mbit' }), htb)).toEqual(['qdisc htb -> tbf', 'rate none -> 10mbit', 'burst none -> 5000b', 'limit none -> 67500b', 'qdisc pfifo under the root -> none']);
    const hand = devices('hand-added.json');
    expect(hand.get('v0')!.root).toMatchObject({ kind: 'pfifo_fast' });
    expect(hand.get('v0')!.ingress.map((e) => e.kind)).toEqual(['ingress']);
    expect(diffTexts(undefined, hand.get('v0')!)).toEqual(['qdisc pfifo_fast -> none']);
    expect(diffTexts(undefined, hand.get('v1')!)).toEqual([]);
  });
});

describe('parseTcQdiscs on netem output written from iproute2\'s source (fixtures README)', () => {
  for (const name of ['netem-6.1.json', 'netem-6.9.json']) {
    it(`${name}: each netem tsnet sets reads back as the desired qdisc`, () => {
      const all = devices(name);
      const full = want({ rate: '10mbit', delay: '40ms', jitter: '5ms', loss: '0.5%', duplicate: '1%', corrupt: '0.1%', reorder: '25%' });
      expect(all.get('v0')!.root).toEqual({
        type: 'shaping',
        handle: '8001:',
        qdisc: { kind: 'netem', limit: 1000, delay: 40_000, jitter: 5000, loss: 5000, duplicate: 10_000, corrupt: 1000, reorder: 250_000, rate: 10e6 },
        extras: [],
      });
      expect(diffTexts(full, all.get('v0')!)).toEqual([]);
      expect(diffTexts(want({ delay: '1ms' }), all.get('v1')!)).toEqual([]);
      expect(diffTexts(want({ loss: '100%', limit: 10 }), all.get('v2')!)).toEqual([]);
      // 6.1 prints delay 1us as 0 (whole microseconds of ticks), 6.9 as 1e-06: both match.
      expect(diffTexts(want({ delay: '1us', rate: '40gbit' }), all.get('v3')!)).toEqual([]);
    });
  }

  it('changes by hand are named key by key', () => {
    const all = devices('netem-6.1.json');
    expect(diffTexts(want({ delay: '50ms' }), all.get('v1')!)).toEqual(['delay 1ms -> 50ms']);
    expect(diffTexts(want({ delay: '1ms', loss: '1%' }), all.get('v1')!)).toEqual(['loss none -> 1%']);
    expect(diffTexts(want({ loss: '100%' }), all.get('v2')!)).toEqual(['limit 10 packets -> 1000 packets']);
    expect(diffTexts(undefined, all.get('v2')!)).toEqual(['limit 10 packets -> none', 'loss 100% -> none']);
    expect(diffTexts(want({ rate: '40gbit' }), all.get('v3')!)).toEqual(['qdisc netem -> tbf', 'burst none -> 20000000b', 'limit 1000 packets -> 270000000b']);
  });

  it('settings tsnet never makes are extras: named, and the device cannot be restored', () => {
    const text = fixture('netem-6.1.json').replace('"delay":{"delay":0.001,"jitter":0,"correlation":0},"ecn":false', '"delay":{"delay":0.001,"jitter":0,"correlation":0.25},"ecn":true');
    const parsed = parseTcQdiscs(text);
    if (!parsed.ok) throw new Error(parsed.error);
    const v1 = parsed.devices.get('v1')!;
    expect(v1.root).toMatchObject({ extras: ['delay correlation 25%', 'ecn'] });
    expect(diffTexts(want({ delay: '1ms' }), v1)).toEqual(['delay correlation 25% -> none', 'ecn -> none']);
    expect(tcRestoreArgv(v1)).toBeUndefined();
  });
});

describe('parseTcQdiscs on bad or batched output', () => {
  it('one JSON list per line (tc -batch) is read as one', () => {
    const htb = fixture('htb.json').trim().replace(/"dev":"v([01])"/g, (_, n: string) => `"dev":"w${n}"`);
    const text = `${fixture('tbf-rates.json').trim()}\n${htb}\n`;
    const parsed = parseTcQdiscs(text);
    expect(parsed.ok && [...parsed.devices.keys()].sort()).toEqual(['lo', 'v0', 'v1', 'v4', 'v5', 'w0', 'w1'].sort());
  });

  it('an empty output is no qdiscs; garbage is an error', () => {
    expect(parseTcQdiscs('')).toEqual({ ok: true, devices: new Map() });
    expect(parseTcQdiscs('Error: Cannot find device "x"')).toMatchObject({ ok: false, error: expect.stringContaining('not JSON') });
    expect(parseTcQdiscs('{"kind":"tbf"}')).toMatchObject({ ok: false });
    expect(parseTcQdiscs('[{"handle":"1:"}]')).toEqual({ ok: false, error: 'tc qdisc show: a qdisc without kind or handle' });
  });

  it('a tbf or netem whose options cannot be read is another kind, not a guess', () => {
    const parsed = parseTcQdiscs('[{"kind":"tbf","handle":"1:","dev":"x","root":true,"options":{"rate":"fast"}}]');
    expect(parsed.ok && parsed.devices.get('x')!.root).toEqual({ type: 'other', handle: '1:', kind: 'tbf' });
  });
});

describe('kernelSame tolerances', () => {
  it('rates compare in whole bytes per second', () => {
    expect(kernelSame('rate', 1_234_567, 1_234_560, {})).toBe(true);
    expect(kernelSame('rate', 1_234_568, 1_234_560, {})).toBe(false);
  });
  it('sizes within two microseconds of the rate plus 2 bytes', () => {
    expect(tbfByteTolerance(20e6)).toBe(7);
    expect(tbfByteTolerance(40e9)).toBe(10_002);
    expect(kernelSame('burst', 10_000, 9993, { rate: 20e6 })).toBe(true);
    expect(kernelSame('burst', 10_000, 9992, { rate: 20e6 })).toBe(false);
    expect(kernelSame('limit', { unit: 'bytes', value: 100 }, { unit: 'packets', value: 100 }, { rate: 20e6 })).toBe(false);
    expect(kernelSame('limit', { unit: 'packets', value: 100 }, { unit: 'packets', value: 101 }, {})).toBe(false);
  });
  it('times within 1us or six significant digits; percentages exact', () => {
    expect(timeTolerance(40_000)).toBe(1);
    expect(timeTolerance(123_456_789)).toBe(618);
    expect(kernelSame('delay', 123_456_789, 123_457_000, {})).toBe(true);
    expect(kernelSame('delay', 40_000, 40_002, {})).toBe(false);
    expect(kernelSame('loss', 5000, 5001, {})).toBe(false);
  });
});

describe('argv', () => {
  it('replace, delete and show: arrays, names after dev', () => {
    expect(tcReplaceArgv('eth0', { kind: 'tbf', rate: 20e6, burst: 10_000, limit: 135_000 })).toEqual(['tc', 'qdisc', 'replace', 'dev', 'eth0', 'root', 'tbf', 'rate', '20000000bit', 'burst', '10000b', 'limit', '135000b']);
    expect(tcReplaceArgv('tsv1234abcd', { kind: 'netem', limit: 1000, delay: 40_000, jitter: 5000, loss: 5000, duplicate: 10_000, corrupt: 1000, reorder: 250_000, rate: 10e6 })).toEqual(
      ['tc', 'qdisc', 'replace', 'dev', 'tsv1234abcd', 'root', 'netem', 'limit', '1000', 'delay', '40000us', '5000us', 'loss', 'random', '0.5%', 'duplicate', '1%', 'corrupt', '0.1%', 'reorder', '25%', 'rate', '10000000bit'],
    );
    expect(tcReplaceArgv('e', { kind: 'netem', limit: 5, loss: 1 })).toEqual(['tc', 'qdisc', 'replace', 'dev', 'e', 'root', 'netem', 'limit', '5', 'loss', 'random', '0.0001%']);
    expect(tcDeleteArgv('eth0')).toEqual(['tc', 'qdisc', 'del', 'dev', 'eth0', 'root']);
    expect(TC_SHOW_ARGV).toEqual(['tc', '-r', '-json', 'qdisc', 'show']);
    expect(tcShowDevArgv('help')).toEqual(['tc', '-r', '-json', 'qdisc', 'show', 'dev', 'help']);
  });

  it('refuses what is not an interface name', () => {
    for (const bad of ['a b', 'x'.repeat(16), '..', '', 'a;b', '$(x)']) expect(() => tcDeleteArgv(bad), bad).toThrow(/not an interface name/);
  });

  it('restore: delete back to the default, replace a tsnet-kind qdisc, nothing for the rest', () => {
    expect(tcRestoreArgv(device('default-dev.json', 'v0', true))).toEqual(['tc', 'qdisc', 'del', 'dev', 'v0', 'root']);
    expect(tcRestoreArgv(device('tbf-changed.json', 'v0', true))).toEqual(['tc', 'qdisc', 'replace', 'dev', 'v0', 'root', 'tbf', 'rate', '5000000bit', 'burst', '10000b', 'limit', '135000b']);
    expect(tcRestoreArgv(devices('netem-6.1.json').get('v2')!)).toEqual(['tc', 'qdisc', 'replace', 'dev', 'v2', 'root', 'netem', 'limit', '10', 'loss', 'random', '100%']);
    expect(tcRestoreArgv(devices('htb.json').get('v0')!)).toBeUndefined();
    expect(tcRestoreArgv(devices('hand-added.json').get('v0')!)).toBeUndefined();
  });

  it('shortLabel', () => {
    expect(shortLabel({ kind: 'tbf', rate: 20e6, burst: 1, limit: 1 })).toBe('tbf 20mbit');
    expect(shortLabel({ kind: 'netem', limit: 1000, delay: 40_000, loss: 5000, rate: 10e6 })).toBe('netem 40ms loss 0.5% 10mbit');
  });
});

describe('checkLinkQdisc: what ip -json link already says', () => {
  it.each([
    ['noqueue', undefined, 'default', false, undefined],
    [undefined, undefined, 'default', false, undefined],
    ['noop', 'tbf', 'default', false, 'qdisc none -> tbf'],
    ['tbf', 'tbf', 'tsnet-kind', true, undefined],
    ['tbf', 'netem', 'tsnet-kind', true, 'qdisc tbf -> netem'],
    ['netem', undefined, 'tsnet-kind', true, 'qdisc netem -> none'],
    ['pfifo_fast', undefined, 'foreign', true, 'qdisc pfifo_fast -> none'],
    ['htb', 'tbf', 'foreign', true, 'qdisc htb -> tbf'],
  ] as const)('%s where the file wants %s: %s', (kind, desired, state, needsTc, change) => {
    const v = checkLinkQdisc(kind, desired);
    expect(v.state).toBe(state);
    expect(v.needsTc).toBe(needsTc);
    expect(v.change?.text).toBe(change);
  });
});
