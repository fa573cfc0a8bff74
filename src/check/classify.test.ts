// How a probe's raw result is read (outputs captured from iputils ping 20221126 and from the
// clients of scripts.ts in the lab), and whether it is what each expectation wants.
import { describe, expect, it } from 'vitest';
import { clientOutcome, gotText, passes, pingOutcome, type Outcome, type OutcomeKind } from './classify.js';

const ran = (exitCode: number, stdout = '', stderr = '') => ({ exitCode, stdout, stderr });

const REPLY = `PING 198.18.90.11 (198.18.90.11) 56(84) bytes of data.
64 bytes from 198.18.90.11: icmp_seq=1 ttl=64 time=0.083 ms

--- 198.18.90.11 ping statistics ---
1 packets transmitted, 1 received, 0% packet loss, time 0ms
rtt min/avg/max/mdev = 0.083/0.083/0.083/0.000 ms
`;
const SILENCE = `PING 198.18.99.9 (198.18.99.9) 56(84) bytes of data.

--- 198.18.99.9 ping statistics ---
1 packets transmitted, 0 received, 100% packet loss, time 0ms
`;
const HOST_UNREACHABLE = `PING 198.18.97.5 (198.18.97.5) 56(84) bytes of data.
From 198.18.99.2 icmp_seq=1 Destination Host Unreachable

--- 198.18.97.5 ping statistics ---
1 packets transmitted, 0 received, +1 errors, 100% packet loss, time 0ms
`;
const FILTERED = 'PING 198.18.97.5 (198.18.97.5) 56(84) bytes of data.\nFrom 198.18.99.2 icmp_seq=1 Packet filtered\n';
const V6_NO_ROUTE = 'PING 2001:db8:97::5(2001:db8:97::5) 56 data bytes\nFrom 2001:db8:99::2 icmp_seq=1 Destination unreachable: No route\n';

describe('pingOutcome', () => {
  it('a reply, with its round trip time', () => {
    expect(pingOutcome(ran(0, REPLY), 37)).toEqual({ kind: 'reply', ms: 0 });
    expect(pingOutcome(ran(0, REPLY.replace('0.083 ms', '12.7 ms')), 37)).toEqual({ kind: 'reply', ms: 13 });
  });

  it('nothing back within -W: a timeout, taking the time it waited', () => {
    expect(pingOutcome(ran(1, SILENCE), 1003.4)).toEqual({ kind: 'timeout', ms: 1003 });
  });

  it('an ICMP error from a router: unreachable, saying which and from where', () => {
    expect(pingOutcome(ran(1, HOST_UNREACHABLE), 5)).toEqual({ kind: 'unreachable', detail: 'Destination Host Unreachable, from 198.18.99.2', ms: 5 });
    expect(pingOutcome(ran(1, FILTERED), 5)).toEqual({ kind: 'unreachable', detail: 'Packet filtered, from 198.18.99.2', ms: 5 });
    expect(pingOutcome(ran(1, V6_NO_ROUTE), 5)).toEqual({ kind: 'unreachable', detail: 'Destination unreachable: No route, from 2001:db8:99::2', ms: 5 });
  });

  it('no route in the sandbox, or refused there (prohibit route, firewall): unreachable', () => {
    expect(pingOutcome(ran(2, '', 'ping: connect: Network is unreachable\n'), 3)).toEqual({ kind: 'unreachable', detail: 'no route', ms: 3 });
    expect(pingOutcome(ran(2, '', 'ping: Do you want to ping broadcast? Then -b. If not, check your local firewall rules\n'), 3)).toEqual({
      kind: 'unreachable',
      detail: 'refused by this sandbox (a prohibit route or a firewall rule)',
      ms: 3,
    });
  });

  it('ping missing or failing otherwise: an error (never a pass for "blocked")', () => {
    expect(pingOutcome(ran(127, '', 'spawn ping ENOENT'), 1)).toEqual({ kind: 'error', detail: 'spawn ping ENOENT', ms: 1 });
    expect(pingOutcome(ran(2, '', 'ping: socket: Address family not supported by protocol\n'), 1)).toEqual({
      kind: 'error',
      detail: 'ping: socket: Address family not supported by protocol',
      ms: 1,
    });
    expect(pingOutcome(ran(2, '', 'nsenter: cannot open /run/netns/x: No such file or directory'), 1).kind).toBe('error');
  });
});

describe('clientOutcome', () => {
  it('reads the client\'s JSON line', () => {
    expect(clientOutcome(ran(0, '{"result":"connected","code":null,"ms":18}\n'), 60)).toEqual({ kind: 'connected', ms: 18 });
    expect(clientOutcome(ran(0, '{"result": "refused", "code": "ECONNREFUSED", "ms": 0}\n'), 60)).toEqual({ kind: 'refused', detail: 'ECONNREFUSED', ms: 0 });
    expect(clientOutcome(ran(0, '{"result":"unreachable","code":"ENETUNREACH","ms":28}'), 60)).toEqual({ kind: 'unreachable', detail: 'ENETUNREACH', ms: 28 });
  });

  it('anything else is an error with the program\'s stderr', () => {
    expect(clientOutcome(ran(1, '', 'SyntaxError: x\n  at y\n'), 60)).toEqual({ kind: 'error', detail: 'SyntaxError: x; at y', ms: 60 });
    expect(clientOutcome(ran(0, '{"result":"maybe"}'), 60)).toEqual({ kind: 'error', detail: 'the probe exited with 0 without a result', ms: 60 });
  });
});

const o = (kind: OutcomeKind): Outcome => ({ kind, ms: 1 });
const KINDS: OutcomeKind[] = ['reply', 'connected', 'answered', 'refused', 'timeout', 'unreachable', 'error', 'not-run'];

describe('passes', () => {
  it('reach without a port: an ICMP reply, and nothing else', () => {
    expect(KINDS.filter((k) => passes('reach', o(k), undefined))).toEqual(['reply']);
  });

  it('reach with a port: connected or answered, whatever ICMP did', () => {
    expect(KINDS.filter((k) => passes('reach', undefined, o(k)))).toEqual(['connected', 'answered']);
    expect(passes('reach', o('timeout'), o('connected'))).toBe(true);
  });

  it('blocked without a port: no reply (timeout or unreachable); an error is not a pass', () => {
    expect(KINDS.filter((k) => passes('blocked', o(k), undefined))).toEqual(['timeout', 'unreachable']);
    expect(passes('blocked', undefined, undefined)).toBe(false);
  });

  it('blocked with a port: no ICMP reply AND no connection; "refused" reached the address at L3, so it fails', () => {
    for (const icmp of KINDS)
      for (const port of KINDS) {
        const want = ['timeout', 'unreachable'].includes(icmp) && ['timeout', 'unreachable'].includes(port);
        expect(passes('blocked', o(icmp), o(port)), `${icmp} + ${port}`).toBe(want);
      }
  });
});

describe('gotText', () => {
  const tcp = { port: { proto: 'tcp' as const }, expect: 'reach' as const };
  it('says what came back, and who listened', () => {
    expect(gotText({ expect: 'reach' }, o('reply'), undefined)).toBe('reply');
    expect(gotText({ expect: 'blocked' }, o('timeout'), undefined)).toBe('no reply');
    expect(gotText(tcp, undefined, o('connected'), { kind: 'tsnet' })).toBe('tcp connected (tsnet listener)');
    expect(gotText(tcp, undefined, o('connected'), { kind: 'service' })).toBe('tcp connected (service listening)');
    expect(gotText(tcp, undefined, o('refused'), { kind: 'none', why: 'nothing of the file holds 198.18.0.9' })).toBe(
      'tcp refused (reachable at L3) (no listener: nothing of the file holds 198.18.0.9)',
    );
    expect(gotText({ port: { proto: 'udp' }, expect: 'blocked' }, { kind: 'unreachable', detail: 'no route', ms: 1 }, o('timeout'), { kind: 'tsnet' })).toBe(
      'unreachable (no route); udp no answer (tsnet listener)',
    );
  });

  it('a probe the deadline left out says so once', () => {
    const nr: Outcome = { kind: 'not-run', detail: 'not run: the deadline (60s) passed first', ms: 0 };
    expect(gotText({ port: { proto: 'tcp' }, expect: 'blocked' }, nr, nr)).toBe('not run: the deadline (60s) passed first');
  });
});
