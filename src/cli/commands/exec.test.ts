// tsnet exec --json: one document, one result per sandbox.
import { describe, expect, it } from 'vitest';
import { describeFailures } from '../../exec/run.js';
import { execJson } from './exec.js';

const results = [
  { sandbox: 'a', host: 'local', ns: 't-a', exitCode: 0, stdout: 'hi\n', stderr: '' },
  { sandbox: 'h', host: 'local', ns: null, exitCode: 143, signal: 'SIGTERM', stdout: '', stderr: 'bye\n' },
  { sandbox: 'b', host: 'local', ns: 't-b', exitCode: 127, stdout: '', stderr: '', error: 'spawn ip ENOENT' },
];

describe('tsnet exec results', () => {
  it('JSON: every sandbox with its exit code, signal and output; ok only when all exited 0', () => {
    expect(execJson({ name: 't', file: 't.yaml' }, ['sh', '-c', 'x'], results)).toEqual({
      format_version: expect.stringMatching(/^1\./),
      topology: 't',
      file: 't.yaml',
      command: ['sh', '-c', 'x'],
      ok: false,
      results: [
        { sandbox: 'a', host: 'local', namespace: 't-a', exit_code: 0, signal: null, stdout: 'hi\n', stderr: '' },
        { sandbox: 'h', host: 'local', namespace: null, exit_code: 143, signal: 'SIGTERM', stdout: '', stderr: 'bye\n' },
        { sandbox: 'b', host: 'local', namespace: 't-b', exit_code: 127, signal: null, stdout: '', stderr: 'spawn ip ENOENT\n' },
      ],
    });
  });

  it('the failures named on stderr', () => {
    expect(describeFailures(results)).toBe('h (signal SIGTERM, exit 143), b (spawn ip ENOENT, exit 127)');
  });
});
