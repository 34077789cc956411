/**
 * The client on Node's own WebSocket (undici's) against a refused upgrade. Undici fires `error`
 * and never `close` after a non-101 answer, and its socket stays CONNECTING for good: the client
 * reads that `error` as the close (1006) it never gets, at once, instead of waiting out
 * connectTimeoutMs. Node 20 has that WebSocket only behind `--experimental-websocket` (Node 22
 * has it global), and vitest's workers run without the flag: the client runs in a child process
 * of its own, importing `ws-supervisor/client` (dist/, as a Node service does), on a SimulatedClock, and prints every
 * event it emits. The server is a real supervisor in this process, on port 0.
 */
import { once } from 'node:events';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { SimulatedClock } from 'xstate';
import { runCommand } from '../helpers/process.js';
import { connect, expectNoLeaks, startServer } from '../helpers/server.js';

/**
 * The child: a client of the global WebSocket (undici's) with a connect timeout of a day on a
 * SimulatedClock (no timer of it can fire), printing each event as a line of JSON. After the
 * first `reconnecting` it calls close(), and prints its state; nothing then keeps the process
 * alive, so it exits on its own. Without a `close`, nothing keeps it alive either: it exits
 * having printed none.
 */
const program = `
import { SimulatedClock } from 'xstate';
import { createClient } from 'ws-supervisor/client';
const print = (type, event) => console.log(JSON.stringify({ type, event }));
print('websocket', typeof WebSocket);
const clock = new SimulatedClock();
const client = createClient({
  url: process.argv[1],
  clock,
  connectTimeoutMs: 86_400_000,
  random: () => 0.5,
});
// 'close-at-once': the app's close() while the first attempt is still CONNECTING.
if (process.argv[2] === 'close-at-once') {
  client.close();
  print('closed', client.state);
}
// 'time-out': the connect timeout, with the first attempt still CONNECTING.
if (process.argv[2] === 'time-out') setImmediate(() => clock.increment(86_400_000));
for (const type of ['open', 'close', 'reconnecting', 'error']) {
  client.on(type, (event) => {
    print(type, event);
    if (type === 'reconnecting') {
      client.close();
      print('closed', client.state);
    }
  });
}
`;

/** Runs the child against `url`; resolves with its exit code and the events it printed. */
function startNodeClient(url: string, mode = '') {
  // Node 22 has the global WebSocket without a flag; Node 20 needs one.
  const flags =
    typeof (globalThis as { WebSocket?: unknown }).WebSocket === 'function'
      ? []
      : ['--experimental-websocket'];
  return runCommand(process.execPath, [...flags, '--input-type=module', '-e', program, url, mode]);
}

/** The events the child printed, in order. */
const eventsOf = (output: string) =>
  output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { type: string; event: unknown });

/** Runs the child against `url` to its end: its exit code, and the events it printed. */
async function runNodeClient(url: string) {
  const child = startNodeClient(url);
  const code = await child.exited;
  return { code, events: eventsOf(child.output()), output: child.output() };
}

/** A server that takes the TCP connection and never answers the upgrade. */
async function startSilentServer() {
  const sockets: Socket[] = [];
  const server = createServer((socket) => void sockets.push(socket));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  onTestFinished(() => {
    for (const socket of sockets) socket.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const { port } = server.address() as AddressInfo;
  return { port, sockets, server };
}

describe('the client on Node’s own WebSocket (undici), refused over HTTP', () => {
  it('401: `close` 1006 at once with undici’s words, then a retry; close() lets the process exit', async () => {
    const server = await startServer();
    const rejected: number[] = [];
    server.supervisor.on('rejected', ({ status }) => rejected.push(status ?? 0));

    const { code, events, output } = await runNodeClient(`ws://127.0.0.1:${server.port}/?token=expired`);

    expect(events, output).toEqual([
      { type: 'websocket', event: 'function' },
      {
        type: 'close',
        event: {
          code: 1006,
          kind: 'abnormal',
          reason: 'Received network error or non-101 status code.',
          wasClean: false,
          opened: false,
          next: 'reconnect',
        },
      },
      { type: 'reconnecting', event: { delayMs: expect.any(Number), attempt: 1 } },
      { type: 'closed', event: 'closed' },
    ]);
    expect(code, output).toBe(0);
    expect(rejected).toEqual([401]);
    expectNoLeaks(server.supervisor);
  });

  it('429 at the user limit: the same, one `close` for the attempt', async () => {
    // The server's clock stands still: the connection holding the slot never turns idle.
    const server = await startServer({ clock: new SimulatedClock(), maxConnectionsPerUser: 1 });
    await connect(server.url('kim'));
    const rejected: number[] = [];
    server.supervisor.on('rejected', ({ status }) => rejected.push(status ?? 0));

    const { code, events, output } = await runNodeClient(server.url('kim'));

    expect(
      events.map(({ type }) => type),
      output,
    ).toEqual(['websocket', 'close', 'reconnecting', 'closed']);
    expect(events[1]?.event).toMatchObject({ code: 1006, next: 'reconnect' });
    expect(code, output).toBe(0);
    expect(rejected).toEqual([429]);
  });

  it('close() while undici’s socket is still CONNECTING: no throw, no `close` event; the process exits though the server holds the TCP socket', async () => {
    const { port } = await startSilentServer();

    const child = startNodeClient(`ws://127.0.0.1:${port}/`, 'close-at-once');
    await child.waitFor(/"closed"/);
    // The server never answers nor ends the TCP socket: the client's close() ends it (README, Ending it).

    expect(await child.exited, child.output()).toBe(0);
    expect(eventsOf(child.output())).toEqual([
      { type: 'websocket', event: 'function' },
      { type: 'closed', event: 'closed' },
    ]);
    expect(child.errorOutput()).not.toMatch(/Error/);
  });

  it('the connect timeout on undici’s CONNECTING socket: one `close` (1006, connect timeout), then a retry', async () => {
    const { port } = await startSilentServer();

    const child = startNodeClient(`ws://127.0.0.1:${port}/`, 'time-out');
    await child.waitFor(/"closed"/);

    expect(await child.exited, child.output()).toBe(0);
    expect(eventsOf(child.output())).toEqual([
      { type: 'websocket', event: 'function' },
      {
        type: 'close',
        event: {
          code: 1006,
          kind: 'abnormal',
          reason: 'connect timeout',
          cause: 'connect-timeout',
          wasClean: false,
          opened: false,
          next: 'reconnect',
        },
      },
      { type: 'reconnecting', event: { delayMs: expect.any(Number), attempt: 1 } },
      { type: 'closed', event: 'closed' },
    ]);
  });
});
