// TCP probes for the firewall tests, run inside lab namespaces by test/kernel/firewall.test.ts
// (never by hand on a real network):
//
//   node tcp-probe.mjs serve PORT TEXT SECONDS      answers every connection with TEXT, on every
//                                                   address (IPv4 and IPv6), for SECONDS at most
//   node tcp-probe.mjs probe TIMEOUT_MS HOST:PORT... connects to each at once; prints one JSON
//                                                   line per target: "connected" (with what the
//                                                   server said), "refused" (an RST: the host was
//                                                   reached) or "timeout" (dropped on the way)
import { createConnection, createServer } from 'node:net';

const [mode, ...args] = process.argv.slice(2);

if (mode === 'serve') {
  const [port, text, seconds] = args;
  // A client that resets (a probe that only checks the port) must not end the server.
  const server = createServer((c) => {
    c.on('error', () => {});
    c.end(`${text}\n`);
  });
  server.listen({ port: Number(port), host: '::' }, () => process.stdout.write('listening\n'));
  setTimeout(() => process.exit(0), Number(seconds) * 1000).unref();
} else if (mode === 'probe') {
  const [timeout, ...targets] = args;
  const one = (target) =>
    new Promise((resolve) => {
      const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(target);
      const socket = createConnection({ host: m[1], port: Number(m[2]) });
      let data = '';
      const done = (result) => {
        socket.destroy();
        resolve({ target, result, ...(data ? { data: data.trim() } : {}) });
      };
      const timer = setTimeout(() => done(data ? 'connected' : 'timeout'), Number(timeout));
      socket.on('connect', () => {
        // Connected: wait briefly for the greeting, then report.
        setTimeout(() => done('connected'), 200);
      });
      socket.on('data', (d) => (data += d));
      socket.on('end', () => {
        clearTimeout(timer);
        done('connected');
      });
      socket.on('error', (e) => {
        clearTimeout(timer);
        done(e.code === 'ECONNREFUSED' ? 'refused' : `error ${e.code}`);
      });
    });
  const results = await Promise.all(targets.map(one));
  for (const r of results) process.stdout.write(`${JSON.stringify(r)}\n`);
  process.exit(0);
} else {
  process.stderr.write('usage: tcp-probe.mjs serve PORT TEXT SECONDS | probe TIMEOUT_MS HOST:PORT...\n');
  process.exit(2);
}
