// What a probe got, and whether that is what the check expected. Pure.
//
// Outcomes: "reply" (ICMP echo answered), "connected" (TCP handshake done), "answered" (the UDP
// datagram came back), "refused" (TCP RST, or ICMP port unreachable: something at the address
// answered, so it is reachable at L3 and nothing accepted), "timeout" (nothing came back within
// the probe's timeout), "unreachable" (an ICMP error said so, or there is no route, or a local
// firewall refused to send), "error" (the probe itself could not run), "not-run" (the total
// deadline passed first).
//
//   expect reach:   ICMP reply; with a port, connected (TCP) or answered (UDP). Nothing else.
//   expect blocked: no ICMP reply (timeout or unreachable) and, with a port, no connection and
//                   no answer (timeout or unreachable). "refused" fails it: it reached the address.
import type { RunResult } from '../state/runner.js';

export type OutcomeKind = 'reply' | 'connected' | 'answered' | 'refused' | 'timeout' | 'unreachable' | 'error' | 'not-run';

export interface Outcome {
  kind: OutcomeKind;
  /** The errno, the ICMP error text, or why the probe could not run. */
  detail?: string;
  ms: number;
}

const firstLine = (s: string): string =>
  s
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .join('; ');

/** `ping -n -c1 -W T ADDRESS`'s exit code and output. */
export function pingOutcome(res: RunResult, wallMs: number): Outcome {
  const ms = Math.round(wallMs);
  if (res.exitCode === 0) {
    const rtt = /time=([\d.]+) ms/.exec(res.stdout);
    return { kind: 'reply', ms: rtt ? Math.max(0, Math.round(Number(rtt[1]))) : ms };
  }
  if (res.exitCode === 1) {
    // iputils prints ICMP errors it receives: "From 198.18.0.1 icmp_seq=1 Destination Host Unreachable".
    const icmp = /From (\S+) icmp_seq=\d+ (Destination [^\n]*?[Uu]nreachable[^\n]*|Packet filtered|Time to live exceeded)/.exec(res.stdout);
    if (icmp) return { kind: 'unreachable', detail: `${icmp[2]!.trim()}, from ${icmp[1]}`, ms };
    if (/Operation not permitted/.test(res.stderr)) return { kind: 'unreachable', detail: 'sending refused here (Operation not permitted: a local firewall)', ms };
    return { kind: 'timeout', ms };
  }
  const err = firstLine(res.stderr);
  if (/Network is unreachable|No route to host/.test(err)) return { kind: 'unreachable', detail: 'no route', ms };
  // connect() refused here (EACCES): a prohibit route or a local firewall rule; ping words it oddly.
  if (/check your local firewall rules|Permission denied|Operation not permitted/.test(err)) return { kind: 'unreachable', detail: 'refused by this sandbox (a prohibit route or a firewall rule)', ms };
  if (res.exitCode === 127) return { kind: 'error', detail: err || 'ping not found', ms };
  return { kind: 'error', detail: err || `ping exited with ${res.exitCode}`, ms };
}

const CLIENT_RESULTS: readonly OutcomeKind[] = ['connected', 'answered', 'refused', 'timeout', 'unreachable', 'error'];

/** The TCP/UDP client's one JSON line (src/check/scripts.ts). */
export function clientOutcome(res: RunResult, wallMs: number): Outcome {
  const ms = Math.round(wallMs);
  const line = res.stdout.trim().split('\n').pop() ?? '';
  try {
    const doc = JSON.parse(line) as { result?: string; code?: string | null; ms?: number };
    const kind = CLIENT_RESULTS.find((k) => k === doc.result);
    if (kind) return { kind, ...(doc.code ? { detail: doc.code } : {}), ms: typeof doc.ms === 'number' ? doc.ms : ms };
  } catch {
    /* not the client's line: below */
  }
  return { kind: 'error', detail: firstLine(res.stderr) || `the probe exited with ${res.exitCode} without a result`, ms };
}

const PORT_REACHED: readonly OutcomeKind[] = ['connected', 'answered'];
const BLOCKED: readonly OutcomeKind[] = ['timeout', 'unreachable'];

/** Whether a probe's outcomes are what the check expects (see the top of the file). */
export function passes(expect: 'reach' | 'blocked', icmp: Outcome | undefined, port: Outcome | undefined): boolean {
  if (expect === 'reach') return port ? PORT_REACHED.includes(port.kind) : icmp !== undefined && icmp.kind === 'reply';
  return icmp !== undefined && BLOCKED.includes(icmp.kind) && (!port || BLOCKED.includes(port.kind));
}

/** Who answered on the port: tsnet's listener, a service that was already there, or nobody of ours. */
export type ListenerState = { kind: 'tsnet' } | { kind: 'service' } | { kind: 'none'; why: string };

function icmpText(o: Outcome): string {
  switch (o.kind) {
    case 'reply':
      return 'reply';
    case 'timeout':
      return 'no reply';
    case 'unreachable':
      return `unreachable (${o.detail ?? 'ICMP error'})`;
    case 'not-run':
      return o.detail ?? 'not run';
    default:
      return `error: ${o.detail ?? 'unknown'}`;
  }
}

function portText(proto: 'tcp' | 'udp', o: Outcome): string {
  switch (o.kind) {
    case 'timeout':
      return `${proto} ${proto === 'udp' ? 'no answer' : 'timeout'}`;
    case 'unreachable':
      return `${proto} unreachable (${o.detail ?? 'ICMP error'})`;
    case 'refused':
      return `${proto} refused (reachable at L3)`;
    case 'error':
      return `${proto} error: ${o.detail ?? 'unknown'}`;
    case 'not-run':
      return o.detail ?? 'not run';
    default:
      return `${proto} ${o.kind}`;
  }
}

const listenerText = (l: ListenerState | undefined): string =>
  !l ? '' : l.kind === 'tsnet' ? ' (tsnet listener)' : l.kind === 'service' ? ' (service listening)' : ` (no listener: ${l.why})`;

/** The table's "got" column. */
export function gotText(probe: { port?: { proto: 'tcp' | 'udp' }; expect: 'reach' | 'blocked' }, icmp: Outcome | undefined, port: Outcome | undefined, listener?: ListenerState): string {
  const parts: string[] = [];
  if (icmp) parts.push(icmpText(icmp));
  if (probe.port && port) parts.push(`${portText(probe.port.proto, port)}${listenerText(listener)}`);
  if (icmp?.kind === 'not-run' && port?.kind === 'not-run') return icmpText(icmp);
  return parts.join('; ');
}
