// The remote command line of `tsnet exec` over ssh: the remote shell must split it back into
// exactly the argv given, whatever the arguments hold. Checked by letting sh do the splitting.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { attachCommandLine, REMOTE_SHELL } from './ssh.js';

/** What a POSIX shell makes of the line: its words, as argv. */
const wordsOf = (line: string): string[] => {
  const out = execFileSync('sh', ['-c', `printf '%s\\0' ${line}`], { encoding: 'utf8' });
  return out.split('\0').slice(0, -1);
};

describe('attachCommandLine', () => {
  it('every argument arrives intact: spaces, quotes, $, *, ;, newlines, empty', () => {
    const argv = ['printf', '%s\n', 'a b', "it's", '"q"', '$HOME', '*', '; rm -rf /', 'x\ny', '', '`id`', '\\'];
    expect(wordsOf(attachCommandLine(argv, null))).toEqual(argv);
  });

  it('in a namespace: ip netns exec NS first', () => {
    expect(wordsOf(attachCommandLine(['ls', '-l'], 'lab-web'))).toEqual(['ip', 'netns', 'exec', 'lab-web', 'ls', '-l']);
  });

  it('no command: the remote user\'s shell', () => {
    expect(wordsOf(attachCommandLine([], 'lab-web'))).toEqual(['ip', 'netns', 'exec', 'lab-web', ...REMOTE_SHELL]);
  });
});
