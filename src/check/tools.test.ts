// Which probe programs an ssh host has (DETECT_TOOLS' lines), and the argv each probe runs:
// the fixed script as one argument, what varies as further arguments.
import { describe, expect, it } from 'vitest';
import type { Runner } from '../state/runner.js';
import { NODE_CLIENT, PY_LISTENER } from './scripts.js';
import { missingTool, parseTools, programArgv } from './tools.js';

const runner = { host: 'h2', describe: 'ssh root@198.19.21.2' } as Runner;

describe('parseTools', () => {
  it('node first, then nodejs, else python3; ping when found', () => {
    expect(parseTools('node /usr/bin/node\npython3 /usr/bin/python3\nping /usr/bin/ping\n')).toEqual({ client: { kind: 'node', path: '/usr/bin/node' }, ping: '/usr/bin/ping' });
    expect(parseTools('nodejs /usr/bin/nodejs\n')).toEqual({ client: { kind: 'node', path: '/usr/bin/nodejs' } });
    expect(parseTools('python3 /usr/bin/python3\nping /bin/ping\n')).toEqual({ client: { kind: 'python3', path: '/usr/bin/python3' }, ping: '/bin/ping' });
    expect(parseTools('')).toEqual({});
    // A shell's odd answers (an alias, a function name) are not paths.
    expect(parseTools('node node\nping alias ping=x\n')).toEqual({});
  });

  it('what is missing is named, with the host', () => {
    expect(missingTool(runner, {}, 'client')).toBe('host "h2" (ssh root@198.19.21.2) has neither node nor python3, which tcp and udp checks need there');
    expect(missingTool(runner, {}, 'ping')).toBe('host "h2" (ssh root@198.19.21.2) has no ping, which icmp checks need there');
    expect(missingTool(runner, { ping: '/bin/ping' }, 'ping')).toBeUndefined();
    expect(missingTool(runner, { error: 'cannot reach host "h2"' }, 'ping')).toBe('cannot reach host "h2"');
  });
});

describe('programArgv', () => {
  it('the script is one argument, the values come after it', () => {
    expect(programArgv({ kind: 'node', path: '/usr/bin/node' }, 'client', ['tcp', '198.18.0.5', '5432', '1000'])).toEqual(['/usr/bin/node', '-e', NODE_CLIENT, 'tcp', '198.18.0.5', '5432', '1000']);
    expect(programArgv({ kind: 'python3', path: '/usr/bin/python3' }, 'listener', ['udp', '53', '90000', '198.18.0.5'])).toEqual(['/usr/bin/python3', '-c', PY_LISTENER, 'udp', '53', '90000', '198.18.0.5']);
  });
});
