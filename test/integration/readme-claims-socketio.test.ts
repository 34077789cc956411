/**
 * README, "Coming from Socket.IO": the rows whose claims had no test of their
 * own (the others are listed in the report of this review: rooms.test.ts,
 * test/client/*, allowed-origins.test.ts, …). Real sockets on port 0.
 */

import type { IncomingMessage } from 'node:http';
import { createServer } from 'node:http';
import { Server as SocketIoServer } from 'socket.io';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import WebSocket from 'ws';
import { createSupervisor, type SupervisorError } from '../../src/index.js';
import { expectReleased, startClient } from '../client/helpers.js';
import { idleTimeoutMs, startRulesServer } from '../helpers/rules.js';
import {
  allDisposed,
  closed,
  closeServer,
  connect,
  connectRefused,
  expectNoInternalErrors,
  expectNoLeaks,
  ioWait,
  listenOnLoopback,
  nextMessage,
  startServer,
  userFromQuery,
} from '../helpers/server.js';

describe('`io.use` / `socket.handshake`: the upgrade request', () => {
  it('is the one object given to authenticate and then to onOpen', async () => {
    const seen: { authenticate?: IncomingMessage; onOpen?: IncomingMessage } = {};
    const t = await startServer({
      authenticate: (request) => {
        seen.authenticate = request;
        return userFromQuery(request);
      },
      onOpen: (_connection, request) => {
        seen.onOpen = request;
      },
    });
    const ws = await connect(`${t.url('ann')}&token=abc`);
    ws.send('ping');
    expect(await nextMessage(ws)).toBe('ping');
    expect(seen.onOpen).toBeDefined();
    expect(seen.onOpen).toBe(seen.authenticate);
    expect(seen.onOpen?.url).toBe('/?user=ann&token=abc');
    ws.close();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });
});

describe('`socket.data`: connection.data', () => {
  it('is what authenticate returned as data, the same object in every hook, and changes to it are kept', async () => {
    type Data = { rooms: string[] };
    const returned: Data[] = [];
    const seenInOnClose: unknown[] = [];
    const errors: SupervisorError[] = [];
    const server = createServer();
    const supervisor = createSupervisor<Data>({
      preset: 'test',
      authenticate: (request) => {
        const data = { rooms: ['lobby'] };
        returned.push(data);
        return { userId: userFromQuery(request) ?? 'nobody', data };
      },
      onOpen: (connection) => {
        connection.data?.rooms.push('from-onOpen');
      },
      onMessage: (connection, message) => {
        connection.data?.rooms.push(message.toString());
        connection.send(JSON.stringify(connection.data));
      },
      onClose: (connection) => {
        seenInOnClose.push(connection.data);
      },
      onError: (error) => errors.push(error),
    });
    supervisor.attach(server);
    const port = await listenOnLoopback(server);
    onTestFinished(async () => {
      await supervisor.shutdown({ deadlineMs: 200 });
      await closeServer(server);
      expectNoInternalErrors(errors);
    });
    const ws = await connect(`ws://127.0.0.1:${port}/?user=ann`);
    ws.send('hello');
    expect(JSON.parse(await nextMessage(ws))).toEqual({ rooms: ['lobby', 'from-onOpen', 'hello'] });
    const [handle] = supervisor.connectionsOf('ann');
    expect(handle?.data).toBe(returned[0]);
    ws.close();
    await allDisposed(supervisor);
    expect(seenInOnClose).toEqual([returned[0]]);
    expect(seenInOnClose[0]).toBe(returned[0]);
    expectNoLeaks(supervisor);
  });
});

describe("namespaces, `io.of('/chat')`: one supervisor per path", () => {
  it('each path is a connection and a limit of its own: the same user at its limit on /chat still gets in on /news', async () => {
    const errors: SupervisorError[] = [];
    const server = createServer();
    const make = () =>
      createSupervisor({
        preset: 'test',
        maxConnectionsPerUser: 1,
        authenticate: userFromQuery,
        onMessage: (connection, data) => void connection.send(`${connection.userId}:${data.toString()}`),
        onError: (error) => errors.push(error),
      });
    const chat = make();
    const news = make();
    chat.attach(server, { path: '/chat' });
    news.attach(server, { path: '/news' });
    const port = await listenOnLoopback(server);
    onTestFinished(async () => {
      await Promise.all([chat.shutdown({ deadlineMs: 200 }), news.shutdown({ deadlineMs: 200 })]);
      await closeServer(server);
      expectNoInternalErrors(errors);
    });
    const base = `ws://127.0.0.1:${port}`;
    const onChat = await connect(`${base}/chat?user=ann`);
    const onNews = await connect(`${base}/news?user=ann`);
    // Two connections, one per path, each answering on its own socket.
    onChat.send('c');
    onNews.send('n');
    expect(await nextMessage(onChat)).toBe('ann:c');
    expect(await nextMessage(onNews)).toBe('ann:n');
    expect(chat.userStats('ann')).toMatchObject({ live: 1 });
    expect(news.userStats('ann')).toMatchObject({ live: 1 });
    // Each path's limit is its own: a second one on either path is refused.
    expect(await connectRefused(`${base}/chat?user=ann`)).toBe(429);
    expect(await connectRefused(`${base}/news?user=ann`)).toBe(429);
    onChat.close();
    onNews.close();
    await Promise.all([allDisposed(chat), allDisposed(news)]);
    expectNoLeaks(chat);
    expectNoLeaks(news);
  });
});

describe('`io.in(room).disconnectSockets()`: the roomMembers loop', () => {
  it('closes every member of the room with the code and reason, and no one else', async () => {
    const t = await startServer({
      onOpen: (connection, request) => {
        if ((request.url ?? '').includes('room=red')) connection.join('red');
      },
    });
    const red1 = await connect(`${t.url('ann')}&room=red`);
    const red2 = await connect(`${t.url('bob')}&room=red`);
    const blue = await connect(t.url('cat'));
    expect(
      t.supervisor
        .roomMembers('red')
        .map((member) => member.userId)
        .sort(),
    ).toEqual(['ann', 'bob']);
    const closes = [closed(red1), closed(red2)];
    for (const member of t.supervisor.roomMembers('red')) member.close(4000, 'room closed');
    expect(await Promise.all(closes)).toEqual([
      { code: 4000, reason: 'room closed' },
      { code: 4000, reason: 'room closed' },
    ]);
    await roomEmptied(t.supervisor, 'red');
    // The one outside the room is still served.
    blue.send('still here');
    expect(await nextMessage(blue)).toBe('still here');
    expect(t.supervisor.stats().connections).toBe(1);
    blue.close();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });
});

describe('volatile emits: nothing is queued for a client that is gone', () => {
  it('send() on the handle of a connection that closed returns false', async () => {
    const t = await startServer();
    const ws = await connect(t.url('ann'));
    const [handle] = t.supervisor.connectionsOf('ann');
    expect(handle?.send('before')).toBe(true);
    expect(await nextMessage(ws)).toBe('before');
    ws.close();
    await allDisposed(t.supervisor);
    expect(handle?.send('after')).toBe(false);
    expectNoLeaks(t.supervisor);
  });
});

async function roomEmptied(supervisor: ReturnType<typeof createSupervisor>, room: string): Promise<void> {
  if (supervisor.roomMembers(room).length === 0) return;
  await new Promise<void>((resolve) => {
    const off = supervisor.on('disposed', () => {
      if (supervisor.roomMembers(room).length === 0) {
        off();
        resolve();
      }
    });
  });
}

describe('`socket.disconnect()` for good: disconnectUser(userId, 4403, reason)', () => {
  it('createClient does not come back after it, however long, until resume()', async () => {
    const t = await startServer();
    const c = startClient({ url: t.url('fay') });
    await c.next('open');
    expect(t.supervisor.disconnectUser('fay', 4403, 'banned')).toBe(1);
    expect(await c.next('close')).toMatchObject({
      code: 4403,
      reason: 'banned',
      kind: 'forbidden',
      next: 'wait-for-resume',
    });
    expect(c.client.state).toBe('suspended');
    c.client.activity();
    c.simulated.increment(3_600_000);
    expect(c.client.state).toBe('suspended');
    expect(t.supervisor.stats().counters.admitted).toBe(1);
    c.client.close();
    await expectReleased(c);
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });
});

describe('`socket.data = …` has no counterpart: connection.data is set once', () => {
  it('in plain JS too: assigning data, id or userId throws a TypeError and changes nothing, as `socket` already did', async () => {
    const tried: [string, string][] = [];
    const t = await startServer({
      authenticate: (request) => ({ userId: userFromQuery(request) ?? 'nobody', data: { plan: 'pro' } }),
      onOpen: (connection) => {
        // What a JavaScript app coming from Socket.IO writes (TypeScript refuses it: readonly).
        const loose = connection as unknown as Record<string, unknown>;
        for (const key of [
          'data',
          'id',
          'userId',
          'correlationId',
          'expiresAt',
          'admittedAt',
          'idleForMs',
          'socket',
        ]) {
          try {
            loose[key] = { plan: 'free' };
            tried.push([key, 'assigned']);
          } catch (error) {
            tried.push([key, (error as Error).name]);
          }
        }
      },
    });
    const ws = await connect(t.url('ann'));
    ws.send('ping');
    expect(await nextMessage(ws)).toBe('ping');
    expect(tried).toEqual(
      ['data', 'id', 'userId', 'correlationId', 'expiresAt', 'admittedAt', 'idleForMs', 'socket'].map(
        (key) => [key, 'TypeError'],
      ),
    );
    const [handle] = t.supervisor.connectionsOf('ann');
    expect(handle).toMatchObject({ userId: 'ann', data: { plan: 'pro' } });
    expect(t.supervisor.connection(handle?.id ?? '')).toBe(handle);
    ws.close();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });
  it('in a CommonJS script without "use strict" the assignment throws nothing, and still changes nothing', async () => {
    // A Socket.IO app is often CommonJS, which is sloppy code: there a frozen field's assignment is
    // ignored without a word (the README said it threw "in plain JavaScript too"). new Function's
    // body is sloppy code, as such a script is.
    const sloppyAssign = new Function('connection', 'key', 'connection[key] = { plan: "free" };') as (
      connection: unknown,
      key: string,
    ) => void;
    const keys = ['data', 'id', 'userId', 'correlationId', 'expiresAt', 'admittedAt', 'idleForMs', 'socket'];
    const tried: string[] = [];
    const t = await startServer({
      authenticate: (request) => ({ userId: userFromQuery(request) ?? 'nobody', data: { plan: 'pro' } }),
      onOpen: (connection) => {
        for (const key of keys) {
          sloppyAssign(connection, key);
          tried.push(key);
        }
      },
    });
    const ws = await connect(t.url('ann'));
    ws.send('ping');
    expect(await nextMessage(ws)).toBe('ping');
    expect(tried).toEqual(keys);
    const [handle] = t.supervisor.connectionsOf('ann');
    expect(handle).toMatchObject({ userId: 'ann', data: { plan: 'pro' } });
    expect(t.supervisor.connection(handle?.id ?? '')).toBe(handle);
    ws.close();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });
});

describe('both at once while pages move: Socket.IO and the supervisor on one http server', () => {
  /**
   * A raw WebSocket to Engine.IO (Socket.IO's transport): it opens with its open packet "0{...}",
   * and answers a Socket.IO connect packet "40" with "40{...}", which proves the stream intact.
   */
  function engineClient(port: number) {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket`);
    onTestFinished(() => ws.terminate());
    const messages: string[] = [];
    let heard: () => void = () => {};
    ws.on('message', (data) => {
      messages.push(String(data));
      heard();
    });
    ws.on('error', () => {}); // what a corrupted stream gives: the close below says it
    const nextOf = async (prefix: string) => {
      while (!messages.some((m) => m.startsWith(prefix))) await new Promise<void>((r) => (heard = r));
    };
    return { ws, messages, nextOf };
  }

  /** Socket.IO and the supervisor on one http server; Socket.IO's upgrade listener first unless `supervisorFirst`. */
  async function both(path: string | undefined, { supervisorFirst = false } = {}) {
    const server = createServer();
    const errors: SupervisorError[] = [];
    const supervisor = createSupervisor({
      preset: 'test',
      authenticate: userFromQuery,
      onMessage: (connection, data) => connection.send(data.toString()),
      onError: (error) => void errors.push(error),
    });
    onTestFinished(() => supervisor.shutdown());
    const attach = () =>
      path === undefined ? supervisor.attach(server) : supervisor.attach(server, { path });
    if (supervisorFirst) attach();
    const io = new SocketIoServer(server);
    if (!supervisorFirst) attach();
    onTestFinished(() => closeServer(server));
    onTestFinished(() => void io.close());
    const port = await listenOnLoopback(server);
    return { supervisor, port, errors };
  }

  it("with a path, each sees only its own upgrades: Socket.IO's transport works, the supervisor admits its own", async () => {
    const { supervisor, port } = await both('/ws');
    const engine = engineClient(port);
    await engine.nextOf('0{');
    engine.ws.send('40');
    await engine.nextOf('40{');
    const ws = await connect(`ws://127.0.0.1:${port}/ws?user=ann`);
    ws.send('ping');
    expect(await nextMessage(ws)).toBe('ping');
    expect(supervisor.stats().counters).toMatchObject({ admitted: 1, rejected: 0 });
    ws.close();
    await allDisposed(supervisor);
    expectNoLeaks(supervisor);
  });

  it("without a path, Socket.IO created first: the supervisor leaves the socket Engine.IO upgraded, reports it, and Socket.IO's transport works", async () => {
    const { supervisor, port, errors } = await both(undefined);
    const engine = engineClient(port);
    await engine.nextOf('0{');
    engine.ws.send('40');
    await engine.nextOf('40{');
    await vi.waitFor(() => expect(errors.map((error) => error.code)).toEqual(['WSSUP_INVALID_ARGUMENT']));
    expect(errors[0]?.message).toMatch(/already upgraded by another WebSocket server/);
    expect(supervisor.stats().counters).toMatchObject({ admitted: 0, rejected: 0 });
    expect(engine.ws.readyState).toBe(WebSocket.OPEN);
    expectNoLeaks(supervisor);
  });

  it('without a path, the supervisor attached first: Engine.IO upgrades the socket while authenticate runs, and the supervisor leaves it to it as well', async () => {
    const { supervisor, port, errors } = await both(undefined, { supervisorFirst: true });
    const engine = engineClient(port);
    await engine.nextOf('0{');
    engine.ws.send('40');
    await engine.nextOf('40{');
    await vi.waitFor(() => expect(errors.map((error) => error.code)).toEqual(['WSSUP_INVALID_ARGUMENT']));
    expect(errors[0]?.message).toMatch(/already upgraded by another WebSocket server/);
    expect(supervisor.stats().counters).toMatchObject({ admitted: 0, rejected: 0 });
    expect(engine.ws.readyState).toBe(WebSocket.OPEN);
    // And the supervisor's own clients still get in, on every other path.
    const ws = await connect(`ws://127.0.0.1:${port}/?user=ann`);
    ws.send('ping');
    expect(await nextMessage(ws)).toBe('ping');
    ws.close();
    await allDisposed(supervisor);
    expectNoLeaks(supervisor);
  });
});

// README, "A small per-user limit closes quiet tabs": T = ceil(0.7 × limit) is the limit itself
// for a limit of 1 or 2, so a user's quiet connections are evicted with no other one asked for.
describe('a small per-user limit closes quiet tabs, with no new connection asked for', () => {
  it.each([
    [1, 1, 1],
    [2, 2, 1],
    [3, 2, 0],
  ])('limit %i, %i quiet connections: %i closed 4001 after idleTimeoutMs', async (limit, tabs, evicted) => {
    const t = await startRulesServer({ maxConnectionsPerUser: limit });
    const clients = [];
    for (let i = 0; i < tabs; i++) {
      clients.push(await t.open('ann'));
      t.clock.increment(1); // the first is the longest idle
    }
    const closes = clients.slice(0, evicted).map((client) => closed(client.ws));
    t.clock.increment(idleTimeoutMs);
    expect((await Promise.all(closes)).map(({ code, reason }) => `${code} ${reason}`)).toEqual(
      closes.map(() => '4001 evicted: idle'),
    );
    expect(t.events.evicted.map((event) => event.connectionId)).toEqual(
      clients.slice(0, evicted).map((client) => client.id),
    );
    await vi.waitFor(() => expect(t.supervisor.connectionsOf('ann')).toHaveLength(tabs - evicted), ioWait);
    for (const client of clients) client.ws.close();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });
});
