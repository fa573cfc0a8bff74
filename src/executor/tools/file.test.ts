import { describe, expect, it } from 'vitest';
import { b64, fileLine, parseOpLine } from './file.js';
import { checkNamesPath, markerLine, parseFilesOutput, splitText } from '../../state/files.js';

const marker = (address: string) => markerLine('t', address);

describe('file tool lines', () => {
  it('passes the three operations on names files, each naming the owner from the marker', () => {
    const content = `${marker('hosts.a')}\nx y\n`;
    expect(fileLine(['write', '/etc/netns/a/hosts', b64(content)])).toBe(`write /etc/netns/a/hosts t:hosts.a ${b64(content)}`);
    expect(fileLine(['remove', '/etc/netns/a/resolv.conf', b64(marker('resolv.a'))])).toBe('remove /etc/netns/a/resolv.conf t:resolv.a');
    expect(fileLine(['rmdir', '/etc/netns/a'])).toBe('rmdir /etc/netns/a');
  });

  it('a write with head and body apart: the owner from the head, both passed on', () => {
    const head = `${marker('hosts.a')}\n`;
    expect(fileLine(['write', '/etc/netns/a/hosts', b64(head), b64('x y\n')])).toBe(`write /etc/netns/a/hosts t:hosts.a ${b64(head)} ${b64('x y\n')}`);
    expect(fileLine(['write', '/etc/netns/a/hosts', b64(head), ''])).toBe(`write /etc/netns/a/hosts t:hosts.a ${b64(head)}`);
  });

  it('links: a hosts path to a file in the owner\'s topology\'s shared directory; unlink; shared files and their directories', () => {
    expect(fileLine(['link', '/etc/netns/a/hosts', '../.tsnet/t/0123abcd.hosts', 't:hosts.a'])).toBe('link /etc/netns/a/hosts t:hosts.a ../.tsnet/t/0123abcd.hosts');
    expect(parseOpLine('link /etc/netns/a/hosts t:hosts.a ../.tsnet/t/0123abcd.hosts')).toEqual({ op: 'link', path: '/etc/netns/a/hosts', owner: 't:hosts.a', target: '../.tsnet/t/0123abcd.hosts' });
    expect(fileLine(['unlink', '/etc/netns/a/hosts', 't:hosts.a'])).toBe('unlink /etc/netns/a/hosts t:hosts.a');
    const head = `${marker('hostsfile.0123abcd')}\n`;
    expect(fileLine(['write', '/etc/netns/.tsnet/t/0123abcd.hosts', b64(head), b64('x\n')])).toBe(`write /etc/netns/.tsnet/t/0123abcd.hosts t:hostsfile.0123abcd ${b64(head)} ${b64('x\n')}`);
    expect(fileLine(['rmdir', '/etc/netns/.tsnet/t'])).toBe('rmdir /etc/netns/.tsnet/t');
    expect(fileLine(['rmdir', '/etc/netns/.tsnet'])).toBe('rmdir /etc/netns/.tsnet');
  });

  it('refuses links anywhere else: another topology\'s directory, outside /etc/netns, not a hosts path, a resolv owner', () => {
    for (const argv of [
      ['link', '/etc/netns/a/hosts', '../.tsnet/other/0123abcd.hosts', 't:hosts.a'],
      ['link', '/etc/netns/a/hosts', '/etc/hosts', 't:hosts.a'],
      ['link', '/etc/netns/a/hosts', '../.tsnet/t/../../x/0123abcd.hosts', 't:hosts.a'],
      ['link', '/etc/netns/a/resolv.conf', '../.tsnet/t/0123abcd.hosts', 't:hosts.a'],
      ['link', '/etc/netns/a/hosts', '../.tsnet/t/0123abcd.hosts', 't:resolv.a'],
      ['link', '/etc/netns/a/hosts', '../.tsnet/t/0123abcd.hosts'],
      ['unlink', '/etc/netns/a/resolv.conf', 't:hosts.a'],
      ['unlink', '/etc/hosts', 't:hosts.a'],
      ['rmdir', '/etc/netns/.tsnet/t/x'],
      ['rmdir', '/etc/netns/.tsnet/..'],
      ['write', '/etc/netns/.tsnet/t/x.hosts', b64(marker('hostsfile.x'))],
    ]) {
      expect(() => fileLine(argv), JSON.stringify(argv)).toThrow(/internal: refusing/);
    }
  });

  it('refuses anything else: other paths, .., raw content, unknown operations', () => {
    for (const argv of [
      ['write', '/etc/hosts', b64(marker('hosts.a'))],
      ['write', '/etc/netns/../hosts', b64(marker('hosts.a'))],
      ['write', '/etc/netns/a/passwd', b64(marker('hosts.a'))],
      ['write', '/etc/netns/a/hosts', b64('no marker\n')],
      ['remove', '/etc/netns/a/hosts', b64('# tsnet:t:sandbox.a — not a names file')],
      ['write', '/etc/netns/a/hosts', 'not base64 at all'],
      ['write', '/etc/netns/a/hosts', b64(marker('hosts.a')), 'not base64 at all'],
      ['write', '/etc/netns/a/hosts', b64(marker('hosts.a')), b64('x'), b64('y')],
      ['write', '/etc/netns/a/hosts', b64('x\n'), b64(`${marker('hosts.a')}\n`)], // the owner is the head's
      ['remove', '/etc/netns/a/hosts', b64(marker('hosts.a')), b64('x')],
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
  it('a link is read as its target, not followed', () => {
    const files = parseFilesOutput(`link /etc/netns/a/hosts ${b64('../.tsnet/t/0123abcd.hosts')}\n`);
    expect([...files.values()]).toEqual([{ path: '/etc/netns/a/hosts', link: '../.tsnet/t/0123abcd.hosts', dirExists: true }]);
  });

  it('parses present, absent (with or without directory)', () => {
    const mine = `${marker('hosts.c')}\n# tsnet made /etc/netns/c for this file: it is removed with it when empty\n1 2\n`;
    const files = parseFilesOutput(`file /etc/netns/a/hosts ${b64('# x\n1 2\n')}\ndir /etc/netns/a/resolv.conf\nnone /etc/netns/b/hosts\nfile /etc/netns/c/hosts ${b64(mine)}\n`);
    expect([...files.values()]).toEqual([
      { path: '/etc/netns/a/hosts', content: { head: '', body: '# x\n1 2\n' }, dirExists: true },
      { path: '/etc/netns/a/resolv.conf', dirExists: true },
      { path: '/etc/netns/b/hosts', dirExists: false },
      { path: '/etc/netns/c/hosts', content: splitText(mine), dirExists: true },
    ]);
  });

  it('splits a text after the marker line and the directory line that follows it, nowhere else', () => {
    const m = `${marker('hosts.a')}\n`;
    const dir = '# tsnet made /etc/netns/a for this file: it is removed with it when empty\n';
    expect(splitText(`${m}${dir}1 a\n`)).toEqual({ head: `${m}${dir}`, body: '1 a\n' });
    expect(splitText(`${m}1 a\n${dir}`)).toEqual({ head: m, body: `1 a\n${dir}` });
    expect(splitText(`1 a\n${m}`)).toEqual({ head: '', body: `1 a\n${m}` });
    expect(splitText(m.trimEnd())).toEqual({ head: m.trimEnd(), body: '' });
    // The marker of earlier versions (an em dash) is tsnet's too.
    const old = '# tsnet:t:hosts.a \u2014 managed by tsnet, edits are replaced\n';
    expect(splitText(`${old}1 a\n`)).toEqual({ head: old, body: '1 a\n' });
    const decoded = parseFilesOutput(`file /etc/netns/a/hosts ${b64(`${old}1 a\n`)}\n`);
    expect(decoded.get('/etc/netns/a/hosts')!.content).toEqual({ head: old, body: '1 a\n' });
  });

  it('the marker line is ASCII (files and the strings made of them one byte a character)', () => {
    expect(/^[\x20-\x7e]*$/.test(markerLine('t', 'hosts.a'))).toBe(true);
  });
});
