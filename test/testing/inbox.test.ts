/**
 * ws-supervisor/testing's inbox(ws) against a real ws server on port 0: every
 * message from the moment it is made, one per wait, in order; a wait the
 * socket's close ends rejects with WSSUP_SOCKET_CLOSED naming the close.
 *
 * The trial's finding: `await once(ws, 'message')` twice loses the second of
 * two messages sent back to back (a room app's presence and chat), which
 * arrive in one read and which ws emits in one tick. The first test reads
 * such a pair with the inbox; the second shows once() losing it.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { SupervisorError } from '../../src/index.js';
import { inbox, SocketClosedError } from '../../src/testing/index.js';

/** A ws server on port 0, closed after the test; `onConnection` gets each server-side socket. */
async function startWsServer(onConnection: (socket: WebSocket) => void): Promise<string> {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  server.on('connection', onConnection);
  await once(server, 'listening');
  onTestFinished(async () => {
    for (const client of server.clients) client.terminate();
    await new Promise((resolve) => server.close(resolve));
  });
  return `ws://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

/** A client, terminated after the test. */
function client(url: string, options?: WebSocket.ClientOptions): WebSocket {
  const ws = new WebSocket(url, options);
  onTestFinished(() => ws.terminate());
  return ws;
}

/** One message at a time, as a test reads them: made right after `new WebSocket()`. */
type Reader = (ws: WebSocket) => () => Promise<string>;

const withOnce: Reader = (ws) => async () => String((await once(ws, 'message'))[0]);
const withInbox: Reader = (ws) => {
  const messages = inbox(ws);
  return async () => (await messages.next()).text;
};

/**
 * A room app's pair: on `join`, the server sends `presence` and `chat` back to back. The client
 * has stopped reading until both are written, so they arrive in one read (as they often do
 * unasked). Then it asks for `more` (answered `later`), so that a reader that lost `chat` reads
 * `later` instead of waiting for ever. Returns the first two messages read.
 */
async function readPairSentBackToBack(reader: Reader): Promise<string[]> {
  let written: () => void = () => {};
  const bothWritten = new Promise<void>((resolve) => {
    written = resolve;
  });
  const url = await startWsServer((socket) => {
    socket.on('message', (data) => {
      if (String(data) === 'join') {
        socket.send('presence');
        socket.send('chat', () => written());
      } else socket.send('later');
    });
  });
  const ws = client(url);
  const read = reader(ws);
  await once(ws, 'open');
  ws.pause();
  ws.send('join');
  await bothWritten;
  ws.resume();
  const first = await read();
  const second = read();
  ws.send('more');
  return [first, await second];
}

describe('inbox(ws)', () => {
  it('reads both of two messages sent back to back (presence, then chat)', async () => {
    expect(await readPairSentBackToBack(withInbox)).toEqual(['presence', 'chat']);
  });

  it('(why) await once(ws, "message") twice loses the second: ws emitted it before the second once()', async () => {
    expect(await readPairSentBackToBack(withOnce)).toEqual(['presence', 'later']);
  });

  it('take(n) resolves with the next n in order, each message going to one wait only', async () => {
    const url = await startWsServer((socket) => {
      for (const word of ['a', 'b', 'c', 'd', 'e']) socket.send(word);
    });
    const ws = client(url);
    const messages = inbox(ws);
    const first = messages.next();
    const pair = messages.take(2);
    const fourth = messages.next();
    expect((await first).text).toBe('a');
    expect((await pair).map((message) => message.text)).toEqual(['b', 'c']);
    expect((await fourth).text).toBe('d');
    await expect.poll(() => messages.unread.map((message) => message.text)).toEqual(['e']);
    expect((await messages.next()).text).toBe('e');
    expect(messages.unread).toEqual([]);
  });

  it('keeps a message sent with the handshake (onOpen), when made before `open`', async () => {
    const url = await startWsServer((socket) => socket.send('hello'));
    const ws = client(url);
    const messages = inbox(ws);
    await once(ws, 'open');
    expect(await messages.next()).toEqual({ data: Buffer.from('hello'), isBinary: false, text: 'hello' });
  });

  it('gives binary messages as a Buffer whatever the binaryType', async () => {
    const url = await startWsServer((socket) => socket.send(Buffer.from([1, 2, 3]), { binary: true }));
    const ws = client(url);
    ws.binaryType = 'arraybuffer';
    const [message] = await inbox(ws).take(1);
    expect(message?.isBinary).toBe(true);
    expect(message?.data).toEqual(Buffer.from([1, 2, 3]));
  });

  it('rejects a wait with WSSUP_SOCKET_CLOSED naming the close code and reason when the socket closes first', async () => {
    const url = await startWsServer((socket) => {
      socket.send('only one');
      socket.close(4001, 'evicted: idle');
    });
    const ws = client(url);
    const before = ws.listenerCount('message') + ws.listenerCount('close') + ws.listenerCount('error');
    const messages = inbox(ws);
    const pair = messages.take(2);
    const error = await pair.then(
      () => undefined,
      (rejected: unknown) => rejected,
    );
    expect(error).toBeInstanceOf(SocketClosedError);
    expect(error).toBeInstanceOf(SupervisorError);
    expect(error).toMatchObject({
      name: 'SocketClosedError',
      code: 'WSSUP_SOCKET_CLOSED',
      closeCode: 4001,
      closeReason: 'evicted: idle',
    });
    expect((error as Error).message).toBe(
      "The socket closed (4001 'evicted: idle') before message 2 came (1 came in all)",
    );
    // The message that did come is not lost with the rejection.
    expect((error as SocketClosedError).received.map((message) => message.text)).toEqual(['only one']);
    expect((error as SocketClosedError).waitedFor).toBe(2);
    expect(await messages.closed).toEqual({ code: 4001, reason: 'evicted: idle', error: undefined });
    // A wait after the close rejects at once; the inbox's listeners are gone.
    await expect(messages.next()).rejects.toMatchObject({ code: 'WSSUP_SOCKET_CLOSED', closeCode: 4001 });
    expect(ws.listenerCount('message') + ws.listenerCount('close') + ws.listenerCount('error')).toBe(before);
  });

  it('still gives the messages that came before the close, then rejects', async () => {
    const url = await startWsServer((socket) => {
      socket.send('last words');
      socket.close(1001, 'going away');
    });
    const ws = client(url);
    const messages = inbox(ws);
    await messages.closed;
    expect((await messages.next()).text).toBe('last words');
    await expect(messages.next()).rejects.toMatchObject({
      code: 'WSSUP_SOCKET_CLOSED',
      closeCode: 1001,
      closeReason: 'going away',
    });
  });

  it('takes the socket’s error (it does not throw from the socket), and gives it with the close', async () => {
    const url = await startWsServer((socket) => {
      // A frame of reserved opcode 3: the client's ws refuses it with an `error`.
      (socket as unknown as { _socket: { write(data: Buffer): void } })._socket.write(
        Buffer.from([0x83, 0x00]),
      );
    });
    const ws = client(url);
    const messages = inbox(ws);
    const waiting = messages.next();
    const close = await messages.closed;
    expect(close.code).toBe(1006);
    expect(close.error).toMatchObject({ code: 'WS_ERR_INVALID_OPCODE' });
    const error = await waiting.catch((rejected: unknown) => rejected);
    expect(error).toMatchObject({ code: 'WSSUP_SOCKET_CLOSED', closeCode: 1006, cause: close.error });
    expect((error as Error).message).toContain('after an error: Invalid WebSocket frame');
    expect(messages.errors).toEqual([]); // reported, by the rejection
  });

  it('keeps an error no wait reported in `errors`, where a test can see it (it throws from no socket)', async () => {
    const url = await startWsServer((socket) => {
      socket.send('hello');
      // A frame of reserved opcode 3, after the message the test reads.
      (socket as unknown as { _socket: { write(data: Buffer): void } })._socket.write(
        Buffer.from([0x83, 0x00]),
      );
    });
    const ws = client(url);
    const messages = inbox(ws);
    expect((await messages.next()).text).toBe('hello'); // the test's last wait: it ends well
    const close = await messages.closed;
    // Nothing threw, and no wait was rejected: without this list the error went unnoticed.
    expect(messages.errors).toEqual([close.error]);
    expect(messages.errors[0]).toMatchObject({ code: 'WS_ERR_INVALID_OPCODE' });
    // A wait after the close reports it (its cause), and it leaves the list.
    await expect(messages.next()).rejects.toMatchObject({ cause: close.error });
    expect(messages.errors).toEqual([]);
  });

  it('builds a SocketClosedError from its fields (closeCode, closeReason, waitedFor, received, cause)', () => {
    const message = { data: Buffer.from('a'), isBinary: false, text: 'a' };
    const error = new SocketClosedError({
      closeCode: 1006,
      closeReason: '',
      waitedFor: 3,
      receivedInAll: 2,
      received: [message],
      cause: new Error('read ECONNRESET'),
    });
    expect(error).toMatchObject({
      code: 'WSSUP_SOCKET_CLOSED',
      closeCode: 1006,
      waitedFor: 3,
      received: [message],
    });
    expect(error.message).toBe(
      'The socket closed (1006) before message 3 came (2 came in all), after an error: read ECONNRESET',
    );
    expect(
      new SocketClosedError({ closeCode: 1000, closeReason: 'bye', waitedFor: 1, receivedInAll: 0 }).received,
    ).toEqual([]);
  });

  it('throws WSSUP_INVALID_ARGUMENT for what is not a ws WebSocket or a socket already closed; take() rejects with it for a bad count', async () => {
    expect(() => inbox(null as unknown as WebSocket)).toThrow(
      expect.objectContaining({ code: 'WSSUP_INVALID_ARGUMENT' }),
    );
    expect(() => inbox({} as WebSocket)).toThrow(/expected a WebSocket of ws, received an object/);
    const url = await startWsServer((socket) => socket.close());
    const ws = client(url);
    const messages = inbox(ws);
    await once(ws, 'close');
    expect(() => inbox(ws)).toThrow(/already closed; call inbox\(\) right after new WebSocket/);
    // Above the documented 100,000: 2 ** 32 made Array.from throw at the call, 1e8 made 1e8 promises.
    for (const count of [0, -1, 1.5, Number.NaN, '2', 100_001, 1e8, 2 ** 32]) {
      // Rejects, never throws: a promise's caller handles its errors in one place.
      await expect(messages.take(count as number)).rejects.toThrow(
        expect.objectContaining({ code: 'WSSUP_INVALID_ARGUMENT' }),
      );
    }
  });
});
