/**
 * The silence check's second look waits for a read of the sockets, wherever the send() that
 * started it ran. A fake ws-like socket (as in socket-actor-tcp.test.ts) whose TCP socket is a
 * real one over loopback: the bytes the server wrote during the block are in the kernel, unread,
 * and only the event loop decides whether the second look comes after they are read. The order
 * is the event loop's, the same every run, not a race: the block and the work after the send are
 * the test's own.
 *
 * A trial (a collaborative editor, a server talking every 100 ms, the process blocked 1.5 s past
 * a 1 s timeout) lost its live socket (1006, cause `silence`) when send() ran right after the
 * block in a setImmediate callback (5 runs of 10) or in a timer's (3 of 10): the second look was
 * a 0 ms timer, which ran before the poll phase read the socket. Armed in a check phase, it runs
 * at the end of the same loop iteration once a millisecond has passed; armed after a freeze
 * inside a timer's callback while another timer was due during the freeze, in the same timers
 * phase. The client's default clock now waits for the sockets' next read (silence-clock.ts).
 */

import { EventEmitter, once } from 'node:events';
import { readFile } from 'node:fs';
import { type AddressInfo, createServer, type Socket, connect as tcpConnect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { expect, it, onTestFinished } from 'vitest';
import { type ClientEvents, createClient } from '../../src/client/index.js';
import { FakeWsSocket } from '../helpers/fake-ws-socket.js';

// Long enough that the waits below, on a loaded machine, stay well within it once the socket is heard.
const SILENCE_MS = 500;
/** Past the timeout: the silence clock says silent when the block ends. */
const BLOCKED_MS = SILENCE_MS + 60;

/** ws's WebSocket as the socket actor sees it; its TCP socket is handed over by `upgrade`. */
class FakeWebSocket extends FakeWsSocket {
  static made: FakeWebSocket[] = [];
  readonly sent: unknown[] = [];
  constructor(url: string) {
    super(url);
    FakeWebSocket.made.push(this);
  }
  send(data: unknown): void {
    this.sent.push(data);
  }
  close(code = 1000): void {
    if (this.readyState >= 2) return;
    this.readyState = 2;
    setImmediate(() => {
      this.readyState = 3;
      this.fire('close', { code, reason: '', wasClean: true });
    });
  }
  terminate(): void {
    this.close(1006);
  }
  /** A message, as the socket would fire it (whether or not it is still open). */
  message(data: unknown): void {
    this.fire('message', { data });
  }
  /** The socket ends under the client (the server's close frame, or TCP lost). */
  lost(code: number): void {
    this.readyState = 3;
    this.fire('close', { code, reason: '', wasClean: code !== 1006 });
  }
  /** The 101 with its TCP socket (ws emits it before `open`), then the open. */
  opened(tcp: Socket): void {
    this.emit('upgrade', { socket: tcp });
    this.readyState = 1;
    this.fire('open');
  }
}

/** Blocks this process: no timer, no socket read, for `ms`. */
function block(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // busy
  }
}

/** A client on the default clock (real timers) whose socket's TCP end is a real loopback socket. */
async function startOpenClient() {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const tcp = tcpConnect((server.address() as AddressInfo).port, '127.0.0.1');
  const [serverSide] = await accepted;
  await once(tcp, 'connect');
  onTestFinished(() => {
    tcp.destroy();
    serverSide.destroy();
    server.close();
  });
  FakeWebSocket.made = [];
  const client = createClient({
    url: 'ws://127.0.0.1:1/',
    WebSocket: FakeWebSocket as never,
    silenceTimeoutMs: SILENCE_MS,
    instance: false,
    // A reconnect at once: the tests below open the next socket themselves.
    backoff: { baseMs: 1, capMs: 1, factor: 1 },
  });
  onTestFinished(async () => {
    client.close();
    await client.closed;
  });
  const events: (keyof ClientEvents)[] = [];
  for (const type of ['close', 'reconnecting', 'state'] as const) client.on(type, () => events.push(type));
  const messages: unknown[] = [];
  client.on('message', ({ data }) => messages.push(data));
  const socket = FakeWebSocket.made[0] as FakeWebSocket;
  const opened = client.once('open');
  socket.opened(tcp);
  await opened;
  events.length = 0;
  return { client, socket, serverSide, events, messages };
}

it.each([
  ['a setImmediate callback', 'immediate'],
  ['a timer callback, with another timer due during the block', 'timer'],
  // Armed in an I/O callback, one check phase comes before any further poll: the second is needed.
  ["an I/O callback other than the socket's (a file read)", 'io'],
] as const)(
  'send() right after a block past the timeout, from %s: the second look comes after the socket is read, and the socket is kept',
  async (_name, where) => {
    const { client, socket, serverSide, events } = await startOpenClient();
    let answer: boolean | undefined;
    await new Promise<void>((resolve) => {
      const blockThenSend = () => {
        // The server talks while this process is blocked: its bytes wait in the socket, unread.
        serverSide.write(Buffer.from([0x81, 0x01, 0x78]));
        block(BLOCKED_MS);
        answer = client.send('after the block');
        // The app's own work after the send: the loop's clock moves on past the 0 ms timer.
        block(3);
        resolve();
      };
      if (where === 'immediate') setImmediate(blockThenSend);
      else if (where === 'io') readFile(fileURLToPath(import.meta.url), () => blockThenSend());
      else {
        // As after `await sleep()`: the block in a microtask of a timer's callback.
        setTimeout(() => queueMicrotask(blockThenSend), 0);
        setTimeout(() => {}, 20);
      }
    });
    // Silent by the clock: nothing written, the check under way.
    expect(answer).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 30));
    // Before the fix: close (1006, cause 'silence'), state, reconnecting, on a socket heard.
    expect(events).toEqual([]);
    expect(client.state).toBe('open');
    expect(FakeWebSocket.made).toEqual([socket]);
    expect(client.send('kept')).toBe(true);
    expect(socket.sent).toEqual(['kept']);
  },
);

it('a socket still silent at the second look is given up, as before (1006, cause silence)', async () => {
  const { client, socket } = await startOpenClient();
  let answer: boolean | undefined;
  const closed = client.once('close');
  await new Promise<void>((resolve) =>
    setImmediate(() => {
      block(BLOCKED_MS);
      answer = client.send('after the block');
      resolve();
    }),
  );
  expect(answer).toBe(false);
  const close = await closed;
  expect(close).toMatchObject({ code: 1006, cause: 'silence', opened: true });
  expect(socket.sent).toEqual([]);
});

// A trial's question (a stalled path: the old socket's bytes arrived after the new `open`): from
// the step that ends a socket (before its `close` is announced), nothing it still fires reaches
// a `message` listener; the socket actor removes its listener as `connection` is left.
it.each([
  ['given up for its silence', 'silence'],
  ['lost under it (1006)', 'lost'],
] as const)(
  'a socket %s: what it still fires after its close reaches no `message` listener, before or after the next `open`',
  async (_name, how) => {
    const { client, socket, messages } = await startOpenClient();
    socket.message('before');
    const closed = client.once('close');
    if (how === 'silence') {
      await new Promise<void>((resolve) =>
        setImmediate(() => {
          block(BLOCKED_MS);
          client.send('after the block');
          resolve();
        }),
      );
    } else socket.lost(1006);
    await closed;
    socket.message('stale, before the next open');
    const next = await new Promise<FakeWebSocket>((resolve) => {
      const poll = () => {
        const made = FakeWebSocket.made[1];
        if (made === undefined) setTimeout(poll, 1);
        else resolve(made);
      };
      poll();
    });
    const opened = client.once('open');
    next.opened(new EventEmitter() as never);
    await opened;
    socket.message('stale, after the next open');
    next.message('fresh');
    expect(messages).toEqual(['before', 'fresh']);
  },
);
