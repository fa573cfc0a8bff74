// check's options: durations, whole numbers, and a deadline that leaves room for a probe.
import { describe, expect, it } from 'vitest';
import { checkSettings } from './check.js';

describe('checkSettings', () => {
  it('defaults: 1 s per probe, 60 s in all, 16 at once, 1000 pairs, seed 1', () => {
    expect(checkSettings({})).toEqual({ timeoutMs: 1000, deadlineMs: 60_000, parallel: 16, allPairs: false, maxPairs: 1000, seed: 1 });
    expect(checkSettings({ timeout: '500ms', deadline: '2m', parallel: '4', allPairs: true, maxPairs: '10', seed: '0' })).toEqual({
      timeoutMs: 500,
      deadlineMs: 120_000,
      parallel: 4,
      allPairs: true,
      maxPairs: 10,
      seed: 0,
    });
  });

  it('refuses what cannot be meant, naming the flag', () => {
    expect(() => checkSettings({ timeout: '0s' })).toThrow('--timeout must be longer than 0s');
    expect(() => checkSettings({ timeout: 'soon' })).toThrow('--timeout: "soon" is not a duration');
    expect(() => checkSettings({ timeout: '5s', deadline: '2s' })).toThrow('--deadline (2s) is shorter than --timeout (5s)');
    expect(() => checkSettings({ parallel: '0' })).toThrow('--parallel: "0" is not a whole number of 1 or more');
    expect(() => checkSettings({ maxPairs: '1.5' })).toThrow('--max-pairs');
    expect(() => checkSettings({ seed: '-1' })).toThrow('--seed');
  });
});
