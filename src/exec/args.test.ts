// splitExecArgs: "--" and nothing else tells sandbox names from the command.
import { describe, expect, it } from 'vitest';
import { splitExecArgs } from './args.js';

describe('splitExecArgs', () => {
  it('everything after the first "--" is the command, as typed (options and further "--" included)', () => {
    expect(splitExecArgs(['a', 'ls', '-l', '--json', '--', 'x'], ['f', 'a', '--', 'ls', '-l', '--json', '--', 'x'])).toEqual({
      ok: true,
      args: { names: ['a'], command: ['ls', '-l', '--json', '--', 'x'] },
    });
  });

  it('several names before "--"; tsnet\'s options among them are not names', () => {
    expect(splitExecArgs(['a', 'b', 'sh', '-c', 'exit 7'], ['--json', 'f', 'a', '--parallel', '2', 'b', '--', 'sh', '-c', 'exit 7'])).toEqual({
      ok: true,
      args: { names: ['a', 'b'], command: ['sh', '-c', 'exit 7'] },
    });
  });

  it('--all and a command: no names', () => {
    expect(splitExecArgs(['true'], ['f', '--all', '--', 'true'])).toEqual({ ok: true, args: { names: [], command: ['true'] } });
  });

  it('no "--": one name and no command (a shell)', () => {
    expect(splitExecArgs(['a'], ['f', 'a'])).toEqual({ ok: true, args: { names: ['a'] } });
  });

  it('no "--" with several words: an error showing where "--" goes, never a guess', () => {
    const r = splitExecArgs(['a', 'hostname'], ['f', 'a', 'hostname']);
    expect(r).toEqual({ ok: false, error: expect.stringContaining('(tsnet exec FILE a -- hostname)') });
  });

  it('"--" with nothing after it, and FILE after "--", are errors', () => {
    expect(splitExecArgs(['a'], ['f', 'a', '--'])).toEqual({ ok: false, error: expect.stringContaining('nothing after "--"') });
    expect(splitExecArgs(['a'], ['--', 'f', 'a'])).toEqual({ ok: false, error: expect.stringContaining('come before "--"') });
  });
});
