import { describe, expect, it } from 'vitest';
import { b64, fileLine } from './file.js';
import { checkNamesPath, markerLine, parseFilesOutput } from '../../state/files.js';

const marker = (address: string) => markerLine('t', address);

describe('file tool lines', () => {
  it('passes the three operations on names files, each naming the owner from the marker', () => {
    const content = `${marker('hosts.a')}\nx y\n`;
    expect(fileLine(['write', '/etc/netns/a/hosts', b64(content)])).toBe(`write /etc/netns/a/hosts t:hosts.a ${b64(content)}`);
    expect(fileLine(['remove', '/etc/netns/a/resolv.conf', b64(marker('resolv.a'))])).toBe('remove /etc/netns/a/resolv.conf t:resolv.a');
    expect(fileLine(['rmdir', '/etc/netns/a'])).toBe('rmdir /etc/netns/a');
  });

  it('refuses anything else: other paths, .., raw content, unknown operations', () => {
    for (const argv of [
      ['write', '/etc/hosts', b64(marker('hosts.a'))],
      ['write', '/etc/netns/../hosts', b64(marker('hosts.a'))],
      ['write', '/etc/netns/a/passwd', b64(marker('hosts.a'))],
      ['write', '/etc/netns/a/hosts', b64('no marker\n')],
      ['remove', '/etc/netns/a/hosts', b64('# tsnet:t:sandbox.a — not a names file')],
      ['write', '/etc/netns/a/hosts', 'not base64 at all'],
      ['write', '/etc/netns/a/hosts'],
      ['rmdir', '/etc/netns'],
      ['rmdir', '/etc/netns/..'],
      ['rmdir', '/etc'],
      ['chmod', '/etc/netns/a/hosts', ''],
    ]) {
      expect(() => fileLine(argv), JSON.stringify(argv)).toThrow(/internal: refusing/);
    }
    expect(() => checkNamesPath('/etc/netns/a b/hosts')).toThrow();
  });
});

describe('reading names files', () => {
  it('parses present, absent (with or without directory)', () => {
    const files = parseFilesOutput(`file /etc/netns/a/hosts ${b64('# x\n1 2\n')}\ndir /etc/netns/a/resolv.conf\nnone /etc/netns/b/hosts\n`);
    expect([...files.values()]).toEqual([
      { path: '/etc/netns/a/hosts', content: '# x\n1 2\n', dirExists: true },
      { path: '/etc/netns/a/resolv.conf', dirExists: true },
      { path: '/etc/netns/b/hosts', dirExists: false },
    ]);
  });
});
