// Run: npm run example:client -- --port 8080
// An echo server (one connection per user, idle after 1 s) and, in the same
// process, a ws-supervisor/client connected to it as user "demo" that logs what
// it does. It goes idle, is evicted (4001) and waits; press Enter to be active again.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import WebSocket from 'ws';
import { createSupervisor } from 'ws-supervisor';
import { createClient } from 'ws-supervisor/client';
// Not the library: the examples' own --port, --help and listen error. Your app reads its own configuration.
import { exitIfCannotListen, readExampleFlags } from './reference-server/command-line.js';

const flags = readExampleFlags({
  script: 'example:client',
  about:
    'An echo server and, in the same process, a ws-supervisor/client that goes idle, is\n' +
    'evicted (4001) and waits; press Enter to be active again.',
});

// #region server
const supervisor = createSupervisor({
  preset: 'test', // idle after 1 s, a heartbeat (ping) every second
  maxConnectionsPerUser: 1, // T = ceil(0.7 × 1) = 1: even a lone connection is evicted once idle
  heartbeatMessage: 'hb', // sent with every ping: a browser, which sees no pings, hears a quiet server by it
  authenticate: (request) => new URLSearchParams(request.url?.split('?')[1]).get('user'),
  onMessage: (connection, data, isBinary) => connection.send(data, { binary: isBinary }),
});
// #endregion server
const server = createServer((_request, response) => response.end('ws-supervisor/client demo\n'));
supervisor.attach(server);

exitIfCannotListen(server);
server.listen(flags.port, '127.0.0.1', () => {
  const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
  console.log(`listening on ${url}`);
  const client = connectClient(`${url}/?user=demo`);
  // Enter in a terminal is the user being active again.
  const keyboard = process.stdin.isTTY ? createInterface({ input: process.stdin }) : undefined;
  keyboard?.on('line', () => client.activity());

  // `on`, not `once`: under npm, Ctrl-C reaches node twice, and both calls are idempotent.
  const stop = () => {
    client.close(); // stops for good: no reconnect to the server going away
    keyboard?.close();
    void supervisor
      .shutdown() // 1001 to every other client
      .catch((error: unknown) => console.error('shutdown failed', error))
      .finally(() => {
        // After shutdown() only HTTP stragglers are left: cut them, or a request whose
        // headers never end holds close() forever (examples/embedding.ts says why).
        server.close();
        server.closeAllConnections();
      });
  };
  process.on('SIGINT', stop).on('SIGTERM', stop);
});

function connectClient(url: string) {
  // #region client
  const client = createClient({
    url, // or a function, called before every attempt (async too): async () => `wss://host/?token=${await fresh()}`
    WebSocket, // ws's: Node 20 has no global WebSocket (browsers and Node 22 need no such line)
    silenceTimeoutMs: 2_500, // a watch of its own, not the server's offer: 2.5 s of silence (two heartbeats missed): reconnect
    heartbeatMessage: 'hb', // the server's keepalive: it counts as heard, and never reaches 'message'
  });
  client.on('open', () => client.send('hello'));
  client.on('message', ({ data }) => console.log(`client: got ${String(data)}`));
  client.on('state', ({ state }) => console.log(`client: ${state}`));
  client.on('close', ({ code, kind, reason, retryAfterMs, next }) => {
    // kind names the code: 'evicted', 'shutdown', 'unauthenticated', 'too-many-requests', ...
    console.log(
      `client: closed ${code} (${kind}) "${reason}", retry after ${retryAfterMs ?? '-'} ms: ${next}`,
    );
  });
  client.on('reconnecting', ({ delayMs, attempt }) => {
    console.log(`client: reconnecting in ${delayMs} ms (attempt ${attempt})`);
  });
  // In a page: addEventListener('keydown', () => client.activity()) brings it back after 4001.
  // #endregion client
  return client;
}
