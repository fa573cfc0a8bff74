// The fixed programs a check runs inside sandboxes: a TCP/UDP client and a short-lived listener,
// each in Node (this machine, netns hosts, and ssh hosts that have node) and in Python 3 (ssh
// hosts without node). They are constants passed as one argument (`node -e SCRIPT ARGS...`,
// `python3 -c SCRIPT ARGS...`); what varies (protocol, address, port, times) comes as further
// arguments, never spliced into the text, so nothing the user wrote is ever run as code.
//
// Both print one JSON line:
//   client:   {"result": "connected"|"answered"|"refused"|"timeout"|"unreachable"|"error", "code": errno|null, "ms": N}
//   listener: {"pid": N, "ready": [addr...], "busy": [addr...], "failed": [{"address", "code"}]}
// A listener binds exactly the checked addresses (never a wildcard), so it opens nothing else; an
// address already bound by someone else ("busy": a real service) is left to that service. It
// answers TCP connections by closing them and echoes UDP datagrams, and ends on SIGTERM or when
// its lifetime (an argument) runs out, whichever comes first.

/** argv: proto address port timeoutMs */
export const NODE_CLIENT = `
const [proto, host, port, ms] = process.argv.slice(1);
const t0 = Date.now();
const KIND = { ECONNREFUSED: 'refused', ETIMEDOUT: 'timeout', EHOSTUNREACH: 'unreachable', ENETUNREACH: 'unreachable', EACCES: 'unreachable', EPERM: 'unreachable' };
const done = (result, code) => { process.stdout.write(JSON.stringify({ result, code: code || null, ms: Date.now() - t0 }) + '\\n'); process.exit(0); };
setTimeout(() => done('timeout'), Number(ms));
const fail = (e) => done(KIND[e.code] || 'error', e.code || String(e.message));
if (proto === 'tcp') {
  const s = require('net').connect({ host, port: Number(port) });
  s.on('connect', () => { s.destroy(); done('connected'); });
  s.on('error', fail);
} else {
  const token = Buffer.from('tsnet-check ' + process.pid + ' ' + t0);
  const s = require('dgram').createSocket(host.includes(':') ? 'udp6' : 'udp4');
  s.on('error', fail);
  s.on('message', (m) => { if (m.equals(token)) done('answered'); });
  s.connect(Number(port), host, (e) => (e ? fail(e) : s.send(token, (err) => err && fail(err))));
}
`;

/** argv: proto port lifetimeMs address... */
export const NODE_LISTENER = `
const [proto, port, life, ...addrs] = process.argv.slice(1);
const out = { pid: process.pid, ready: [], busy: [], failed: [] };
let left = addrs.length;
const settle = () => { if (--left) return; process.stdout.write(JSON.stringify(out) + '\\n'); if (!out.ready.length) process.exit(0); };
const until = Date.now() + 2000;
const bind = (a) => {
  const fail = (e) => {
    if (e.code === 'EADDRNOTAVAIL' && Date.now() < until) return void setTimeout(() => bind(a), 100);
    if (e.code === 'EADDRINUSE') out.busy.push(a); else out.failed.push({ address: a, code: e.code || String(e.message) });
    settle();
  };
  if (proto === 'tcp') {
    const s = require('net').createServer((c) => { c.on('error', () => {}); c.destroy(); });
    s.once('error', fail);
    s.listen({ port: Number(port), host: a, exclusive: true }, () => { s.on('error', () => {}); out.ready.push(a); settle(); });
  } else {
    const s = require('dgram').createSocket(a.includes(':') ? 'udp6' : 'udp4');
    s.once('error', fail);
    s.on('message', (m, r) => s.send(m, r.port, r.address));
    s.bind({ port: Number(port), address: a, exclusive: true }, () => { s.on('error', () => {}); out.ready.push(a); settle(); });
  }
};
addrs.forEach(bind);
setTimeout(() => process.exit(0), Number(life));
process.on('SIGTERM', () => process.exit(0));
`;

/** argv: proto address port timeoutMs */
export const PY_CLIENT = `
import errno, json, os, socket, sys, time
proto, host, port, ms = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
t0 = time.monotonic()
KIND = {'ECONNREFUSED': 'refused', 'ETIMEDOUT': 'timeout', 'EHOSTUNREACH': 'unreachable', 'ENETUNREACH': 'unreachable', 'EACCES': 'unreachable', 'EPERM': 'unreachable'}
def done(result, code=None):
    print(json.dumps({'result': result, 'code': code, 'ms': int((time.monotonic() - t0) * 1000)}), flush=True)
    sys.exit(0)
fam = socket.AF_INET6 if ':' in host else socket.AF_INET
s = socket.socket(fam, socket.SOCK_STREAM if proto == 'tcp' else socket.SOCK_DGRAM)
s.settimeout(ms / 1000.0)
try:
    s.connect((host, port))
    if proto == 'tcp':
        done('connected')
    token = ('tsnet-check %d %f' % (os.getpid(), t0)).encode()
    s.send(token)
    while True:
        s.settimeout(max(0.001, ms / 1000.0 - (time.monotonic() - t0)))
        if s.recv(65535) == token:
            done('answered')
except socket.timeout:
    done('timeout')
except OSError as e:
    code = errno.errorcode.get(e.errno, str(e.errno))
    done(KIND.get(code, 'error'), code)
`;

/** argv: proto port lifetimeMs address... */
export const PY_LISTENER = `
import errno, json, os, select, signal, socket, sys, time
proto, port, life, addrs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
end = time.monotonic() + life / 1000.0
out = {'pid': os.getpid(), 'ready': [], 'busy': [], 'failed': []}
socks = []
for a in addrs:
    until = time.monotonic() + 2
    while True:
        s = socket.socket(socket.AF_INET6 if ':' in a else socket.AF_INET, socket.SOCK_STREAM if proto == 'tcp' else socket.SOCK_DGRAM)
        try:
            if proto == 'tcp':
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((a, port))
            if proto == 'tcp':
                s.listen(64)
            socks.append(s)
            out['ready'].append(a)
            break
        except OSError as e:
            s.close()
            if e.errno == errno.EADDRNOTAVAIL and time.monotonic() < until:
                time.sleep(0.1)
                continue
            if e.errno == errno.EADDRINUSE:
                out['busy'].append(a)
            else:
                out['failed'].append({'address': a, 'code': errno.errorcode.get(e.errno, str(e.errno))})
            break
print(json.dumps(out), flush=True)
while socks and time.monotonic() < end:
    for s in select.select(socks, [], [], max(0, end - time.monotonic()))[0]:
        try:
            if proto == 'tcp':
                s.accept()[0].close()
            else:
                data, peer = s.recvfrom(65535)
                s.sendto(data, peer)
        except OSError:
            pass
`;

/**
 * Which probe programs an ssh host has: one line "NAME PATH" per program found. Run once per
 * host; a fixed script, no argument.
 */
export const DETECT_TOOLS = 'for t in node nodejs python3 ping; do p=$(command -v "$t") && echo "$t $p"; done; exit 0';
