/**
 * A Socket.IO 4.8 chat, moved to ws-supervisor: docs/migrating-from-socket-io.md
 * quotes the regions below (test/examples/readme-snippets.test.ts checks that the
 * page's blocks equal them), and these tests run them against a real server on
 * port 0 with real clients, so what the page shows is what it does.
 *
 *   npx vitest run examples/migrating-from-socket-io.test.ts   (after npm run build)
 *
 * It imports `ws-supervisor` by name, as an app does: here that is this package's dist/.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { describe, expect, it, type TestContext, vi } from 'vitest';
import WebSocket from 'ws';
import { createSupervisor, Refusal, type Supervisor } from 'ws-supervisor';
import { createClient } from 'ws-supervisor/client';

interface User {
  id: string;
  name: string;
}

/** The chat server of the page, with the app's own token check passed in. */
function createChat(verifyToken: (token: string | null) => Promise<User | undefined>) {
  // #region server
  const supervisor = createSupervisor<{ name: string }>({
    maxConnectionsPerUser: 3, // your Map's limit: counted from before the handshake, freed in `disposed`
    refuse: 'close', // a refused browser reads 4000 + status and the message (connect_error's)
    authenticate: async (request) => {
      // io.use((socket, next) => …): the token comes in the URL (a browser's WebSocket sends no auth payload)
      // Not new URL(request.url, base): it throws on a target such as `//[` (a 500, and an onError).
      const token = new URLSearchParams(request.url?.split('?')[1]).get('token');
      const user = await verifyToken(token);
      if (user === undefined) return new Refusal(401, 'bad token'); // next(new Error('bad token'))
      return { userId: user.id, data: { name: user.name } }; // socket.data = { name }
    },
    onOpen: (connection) => {
      connection.join('lobby'); // socket.join('lobby')
      // socket.io-client's 'connect' means admitted; the client's 'open' is only the handshake.
      connection.send(JSON.stringify({ hello: connection.data?.name }));
    },
    onMessage: (connection, data) => {
      // No event names and no acks: the app's own JSON, with a request id to answer.
      let message: { id: number; text: string };
      try {
        message = JSON.parse(data.toString());
        if (typeof message?.id !== 'number' || typeof message.text !== 'string') throw new TypeError();
      } catch {
        // Uncaught, a throw closes with 1011 (a server error, reported to onError).
        connection.close(1007, 'bad message'); // 1007: the peer sent data it should not have
        return;
      }
      const { id, text } = message;
      const said = JSON.stringify({ from: connection.data?.name, text });
      supervisor.sendToRoom('lobby', said, { except: connection.id }); // socket.to('lobby').emit(…)
      connection.send(JSON.stringify({ ack: id })); // in place of the ack callback
    },
    onClose: (connection, { reason, closeCode }) => {
      // 'disconnecting' and 'disconnect' in one: rooms reads the rooms it was in, already left.
      const left = JSON.stringify({ left: connection.data?.name, reason, closeCode });
      for (const room of connection.rooms) supervisor.sendToRoom(room, left);
    },
  });
  // #endregion server
  return supervisor;
}

/** The page's client, connecting to `origin` with the token `getToken()` gives. */
function connectChat(origin: string, getToken: () => string, log: (line: string) => void) {
  // #region client
  const client = createClient({
    url: () => `${origin}/chat?token=${getToken()}`, // io(origin, { auth: { token } }), called per attempt
    WebSocket, // ws's, under Node 20; a browser or Node 22 needs no such line
    backoff: { baseMs: 1_000, capMs: 5_000 }, // reconnectionDelay, reconnectionDelayMax
    connectTimeoutMs: 20_000, // timeout
    maxAttempts: 6, // reconnectionAttempts: 5 (the lost connection is the first failure) if it lasted 5 s
  });
  let admitted = false; // socket.connected: set by the server's hello, not by 'open' (the handshake)
  client.on('close', ({ opened, kind, reason }) => {
    admitted = false;
    // opened false: an attempt that failed (connect_error); kind 'unauthenticated': the Refusal
    log(`${opened ? 'closed' : 'failed'}: ${kind} ${reason}`);
  });
  // socket.timeout(5_000).emit('say', text, (error, answer) => …): an id, and a timer of your own.
  const answers = new Map<number, (answer: { ack: number }) => void>();
  let lastId = 0;
  client.on('message', ({ data }) => {
    const message = JSON.parse(String(data));
    // socket.on('connect', …) is the hello; an answer that comes after its timeout is dropped.
    if ('hello' in message) admitted = true;
    else if ('ack' in message) answers.get(message.ack)?.(message);
    else log(String(data)); // what the room said
  });
  const say = (text: string, timeoutMs = 5_000) =>
    new Promise<{ ack: number }>((resolve, reject) => {
      lastId += 1;
      const id = lastId;
      // Not buffered while offline (socket.io-client buffers it): fail now, and let the app retry.
      if (!admitted || !client.send(JSON.stringify({ id, text }))) return reject(new Error('not connected'));
      const timer = setTimeout(() => {
        answers.delete(id);
        reject(new Error('operation has timed out')); // socket.io-client's words
      }, timeoutMs);
      answers.set(id, (answer) => {
        clearTimeout(timer);
        answers.delete(id);
        resolve(answer);
      });
    });
  // #endregion client
  return { client, say };
}

const tokens: Record<string, User> = {
  'token-ann': { id: 'ann', name: 'Ann' },
  'token-bob': { id: 'bob', name: 'Bob' },
};

async function listen(supervisor: Supervisor<{ name: string }>, t: TestContext): Promise<string> {
  const server = createServer();
  supervisor.attach(server, { path: '/chat' });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.onTestFinished(async () => {
    await supervisor.shutdown();
    server.close();
    await once(server, 'close');
  });
  return `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A raw ws client, admitted (its hello read), whose every later message is kept, parsed. */
async function member(origin: string, token: string, t: TestContext) {
  const ws = new WebSocket(`${origin}/chat?token=${token}`);
  const got: unknown[] = [];
  ws.on('message', (data) => got.push(JSON.parse(String(data))));
  t.onTestFinished(() => ws.terminate());
  await once(ws, 'open');
  await vi.waitFor(() => expect(got).toEqual([{ hello: tokens[token]?.name }]));
  got.length = 0;
  return { ws, got };
}

describe('docs/migrating-from-socket-io.md, its code as run', () => {
  it('the server: a message to the room, an answer with its request id, and "left" to the rooms it was in', async (t) => {
    const supervisor = createChat(async (token) => tokens[token ?? '']);
    const origin = await listen(supervisor, t);
    const ann = await member(origin, 'token-ann', t);
    const bob = await member(origin, 'token-bob', t);
    await vi.waitFor(() => expect(supervisor.roomMembers('lobby')).toHaveLength(2));

    ann.ws.send(JSON.stringify({ id: 7, text: 'hi' }));
    await vi.waitFor(() => expect(ann.got).toEqual([{ ack: 7 }]));
    await vi.waitFor(() => expect(bob.got).toEqual([{ from: 'Ann', text: 'hi' }]));

    ann.ws.close(1000);
    await vi.waitFor(() =>
      expect(bob.got).toEqual([
        { from: 'Ann', text: 'hi' },
        { left: 'Ann', reason: 'closed', closeCode: 1000 },
      ]),
    );
    expect(ann.got).toEqual([{ ack: 7 }]); // not a member once it ended
  });

  it('the server: a message that is not a chat message closes its connection with 1007, not a server error', async (t) => {
    const supervisor = createChat(async (token) => tokens[token ?? '']);
    const origin = await listen(supervisor, t);
    const ann = await member(origin, 'token-ann', t);
    const bob = await member(origin, 'token-bob', t);
    await vi.waitFor(() => expect(supervisor.roomMembers('lobby')).toHaveLength(2));

    /** Sends `sent` from `who` and resolves with the close it brings. */
    const closeAfter = async (who: typeof ann, sent: string) => {
      const closed = once(who.ws, 'close');
      who.ws.send(sent);
      const [code, reason] = (await closed) as [number, Buffer];
      return [code, String(reason)];
    };
    const annLeft = { left: 'Ann', reason: 'app-close', closeCode: 1007 };
    // Not JSON.
    expect(await closeAfter(ann, '{ not json')).toEqual([1007, 'bad message']);
    // Bob's inbox, exactly: Ann's "left" is there before Bob sends (closed, he would miss it).
    await vi.waitFor(() => expect(bob.got).toEqual([annLeft]));
    // JSON of another shape (null would fail the destructuring: a 1011 again).
    expect(await closeAfter(bob, 'null')).toEqual([1007, 'bad message']);
    expect(bob.got).toEqual([annLeft]);
  });

  it('a client that leaves during the async authenticate holds no slot: the user still gets the limit', async (t) => {
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const supervisor = createChat(async (token) => {
      if (token === 'slow-ann') await held;
      return token === 'slow-ann' ? tokens['token-ann'] : tokens[token ?? ''];
    });
    const origin = await listen(supervisor, t);
    // A raw upgrade request, reset (RST) while authenticate waits: the server sees it go at once.
    const [, port] = origin.split(/:(?=\d+$)/);
    const gone = connect(Number(port), '127.0.0.1');
    await once(gone, 'connect');
    gone.write(
      'GET /chat?token=slow-ann HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    await vi.waitFor(() => expect(supervisor.stats().resources.authenticating).toBe(1));
    const rejected = supervisor.once('rejected');
    gone.resetAndDestroy();
    await vi.waitFor(() => expect(supervisor.stats().resources.authenticating).toBe(0));
    release(); // authenticate answers for a client that is gone
    expect(await rejected).toMatchObject({ reason: 'socket-closed' }); // never admitted
    expect(supervisor.userStats('ann')?.live ?? 0).toBe(0);

    for (let i = 0; i < 3; i += 1) await member(origin, 'token-ann', t);
    expect(supervisor.userStats('ann')?.live).toBe(3);
  });

  it('the client: a Refusal arrives as its kind and message, and is not retried', async (t) => {
    const supervisor = createChat(async (token) => tokens[token ?? '']);
    const origin = await listen(supervisor, t);
    const lines: string[] = [];
    const { client } = connectChat(
      origin,
      () => 'nobody',
      (line) => lines.push(line),
    );
    t.onTestFinished(() => {
      client.close();
      return client.closed;
    });
    const close = await client.once('close');
    expect(close).toMatchObject({ code: 4401, kind: 'unauthenticated', reason: 'bad token' });
    await vi.waitFor(() => expect(client.state).toBe('suspended'));
    expect(lines).toEqual(['closed: unauthenticated bad token']); // with refuse: 'close' it opened first
  });

  it('the client: say() waits for the hello, is answered with its id, and times out when no answer comes', async (t) => {
    const supervisor = createChat(async (token) => tokens[token ?? '']);
    const origin = await listen(supervisor, t);
    const bob = await member(origin, 'token-bob', t);
    const lines: string[] = [];
    const { client, say } = connectChat(
      origin,
      () => 'token-ann',
      (line) => lines.push(line),
    );
    t.onTestFinished(() => {
      client.close();
      return client.closed;
    });
    await expect(say('too soon')).rejects.toThrow('not connected'); // not buffered, as socket.io-client would
    await client.once('message'); // the hello
    await expect(say('hi')).resolves.toEqual({ ack: 2 });
    await vi.waitFor(() => expect(bob.got).toEqual([{ from: 'Ann', text: 'hi' }]));

    // The server stops reading Ann's socket: her message waits in the kernel, unanswered.
    const [ann] = supervisor.connectionsOf('ann');
    ann?.socket?.pause();
    await expect(say('anyone?', 50)).rejects.toThrow('operation has timed out');
    ann?.socket?.resume(); // its answer, late, is dropped; the next message is answered
    await expect(say('back')).resolves.toEqual({ ack: 4 });
    await vi.waitFor(() => expect(bob.got).toHaveLength(3));
    bob.ws.send(JSON.stringify({ id: 1, text: 'hello Ann' }));
    await vi.waitFor(() => expect(lines).toEqual([JSON.stringify({ from: 'Bob', text: 'hello Ann' })]));
  });

  it('the server copied without a path: a target such as //[ is a 401, not a failing authenticate', async (t) => {
    const supervisor = createChat(async (token) => tokens[token ?? '']);
    const server = createServer();
    supervisor.attach(server); // every upgrade, whatever its target
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    t.onTestFinished(async () => {
      await supervisor.shutdown();
      server.close();
      server.closeAllConnections();
    });
    const rejected = supervisor.once('rejected');
    const raw = connect((server.address() as AddressInfo).port, '127.0.0.1');
    t.onTestFinished(() => void raw.destroy());
    await once(raw, 'connect');
    raw.write(
      'GET //[ HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    expect(await rejected).toMatchObject({ status: 401, message: 'bad token' });
  });

  it('the client: gives up after five reconnections, as reconnectionAttempts: 5', async (t) => {
    // A port where nothing listens: every attempt fails.
    const server = createServer().listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as AddressInfo).port;
    server.close();
    await once(server, 'close');

    const lines: string[] = [];
    const { client } = connectChat(
      `ws://127.0.0.1:${port}`,
      () => 'token-ann',
      (line) => lines.push(line),
    );
    t.onTestFinished(() => {
      client.close();
      return client.closed;
    });
    // The backoff's waits cut short: resume() ends a wait ("Retry now"), the attempt count kept.
    client.on('reconnecting', ({ delayMs }) => {
      if (delayMs > 0) queueMicrotask(() => client.resume());
    });
    // Given up (reconnect_failed): suspended until resume(), with no further attempt.
    await vi.waitFor(() => expect(client.state).toBe('suspended'), { timeout: 10_000 });
    expect(client.lastClose).toMatchObject({ code: 1006, next: 'wait-for-resume' });
    expect(lines).toHaveLength(6); // the first attempt and five reconnections
    expect(new Set(lines.map((line) => line.split(' ')[0]))).toEqual(new Set(['failed:']));
  });
});
