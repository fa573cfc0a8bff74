// The two ends of a bounded TCP throughput measurement, run inside lab namespaces by
// test/support/traffic.ts (never by hand on a real network):
//
//   node traffic-peer.mjs receive PORT SECONDS   listens; from the first byte it counts for SECONDS,
//                                                prints {"bytes","seconds","bitsPerSecond"} and exits
//   node traffic-peer.mjs send HOST PORT SECONDS connects (retrying while the receiver starts) and
//                                                sends as fast as TCP lets it until the receiver
//                                                closes, or SECONDS + 5 at most
//
// The rate is measured at the receiver: what arrived, over the time it took to arrive.
import { createConnection, createServer } from 'node:net';

const [mode, ...args] = process.argv.slice(2);
const now = () => Number(process.hrtime.bigint()) / 1e9;

function receive(port, seconds) {
  const giveUp = setTimeout(() => {
    process.stdout.write(`${JSON.stringify({ error: `nothing arrived within ${seconds + 10} s` })}\n`);
    process.exit(2);
  }, (seconds + 10) * 1000);
  const server = createServer((socket) => {
    let bytes = 0;
    let first;
    socket.on('data', (chunk) => {
      if (first === undefined) {
        first = now();
        setTimeout(() => {
          const elapsed = now() - first;
          process.stdout.write(`${JSON.stringify({ bytes, seconds: elapsed, bitsPerSecond: (bytes * 8) / elapsed })}\n`);
          clearTimeout(giveUp);
          socket.destroy();
          server.close();
          process.exit(0);
        }, seconds * 1000);
      }
      bytes += chunk.length;
    });
    socket.on('error', () => {});
  });
  server.listen(port, '0.0.0.0');
}

function send(host, port, seconds) {
  const deadline = now() + seconds + 5;
  const block = Buffer.alloc(64 * 1024, 0x5a);
  const attempt = () => {
    const socket = createConnection({ host, port });
    let connected = false;
    const pump = () => {
      while (now() < deadline) if (!socket.write(block)) return void socket.once('drain', pump);
      socket.destroy();
    };
    socket.on('connect', () => {
      connected = true;
      pump();
    });
    socket.on('error', (err) => {
      // The receiver may not listen yet: retry for a few seconds. Once connected, its close ends the run.
      if (!connected && err.code === 'ECONNREFUSED' && now() < deadline - seconds) return void setTimeout(attempt, 20);
      if (!connected) {
        process.stderr.write(`send: ${err.message}\n`);
        process.exit(1);
      }
    });
    socket.on('close', () => {
      if (connected) process.exit(0);
    });
  };
  attempt();
}

if (mode === 'receive') receive(Number(args[0]), Number(args[1]));
else if (mode === 'send') send(args[0], Number(args[1]), Number(args[2]));
else {
  process.stderr.write('usage: traffic-peer.mjs receive PORT SECONDS | send HOST PORT SECONDS\n');
  process.exit(64);
}
