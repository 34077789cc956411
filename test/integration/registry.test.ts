/**
 * The connection registry (issue 11, item 1), as an app uses it from
 * outside any hook: find a user's connections, send to them, broadcast,
 * kick. Real clients on loopback; the registry is the supervisors' own
 * books, so after every test audit() finds it equal to the actors and
 * nothing is left.
 */
import { describe, expect, expectTypeOf, it, onTestFinished, vi } from 'vitest';
import WebSocketClient, { type WebSocket, WebSocketServer } from 'ws';
import { type Supervisor, SupervisorError } from '../../src/index.js';
import { httpRefusal } from '../helpers/refusals.js';
import {
  type Client,
  closeOf,
  evictAt,
  idleTimeoutMs,
  nextEvent,
  type RulesServer,
  startRulesServer,
} from '../helpers/rules.js';
import { allDisposed, expectNoLeaks, ioWait, nextMessage } from '../helpers/server.js';

async function closeAll(t: RulesServer, sockets: WebSocket[]): Promise<void> {
  for (const ws of sockets) ws.close();
  await allDisposed(t.supervisor);
  expectNoLeaks(t.supervisor);
}

/** Collects every message the client receives from now on. */
function inbox(ws: WebSocket): string[] {
  const received: string[] = [];
  ws.on('message', (data: Buffer) => received.push(data.toString()));
  return received;
}

describe('lookups', () => {
  it("connectionsOf lists a user's live connections oldest first; connection(id) finds each", async () => {
    const t = await startRulesServer();
    const a1 = await t.open('ana');
    const b1 = await t.open('bo');
    const a2 = await t.open('ana');

    expect(t.supervisor.connectionsOf('ana').map((c) => c.id)).toEqual([a1.id, a2.id]);
    expect(t.supervisor.connectionsOf('bo')).toEqual([b1.handle]);
    expect(t.supervisor.connectionsOf('nobody')).toEqual([]);
    for (const client of [a1, b1, a2]) expect(t.supervisor.connection(client.id)).toBe(client.handle);
    expect(t.supervisor.connection('no-such-id')).toBeUndefined();
    expect(t.supervisor.audit().mismatches).toEqual([]);

    await closeAll(t, [a1.ws, b1.ws, a2.ws]);
    expect(t.supervisor.connectionsOf('ana')).toEqual([]);
    expect(t.supervisor.connection(a1.id)).toBeUndefined();
  });

  it('a draining connection leaves connectionsOf at once; its handle stays until disposed, then is inert', async () => {
    const t = await startRulesServer();
    const a1 = await t.open('cy');
    const a2 = await t.open('cy');
    const closing = closeOf(a1.ws);
    // Listened for before the close: the server may dispose it before the client sees its close.
    const disposed = nextEvent(t.supervisor, 'disposed', (event) => event.connectionId === a1.id);
    a1.handle.close(4000, 'bye');
    // Booked as draining in the same step: the registry no longer lists it.
    expect(t.supervisor.connectionsOf('cy').map((c) => c.id)).toEqual([a2.id]);
    expect(t.supervisor.connection(a1.id)).toBe(a1.handle);
    expect(t.supervisor.sendToUser('cy', 'only a2')).toBe(1);
    expect(await closing).toEqual({ code: 4000, reason: 'bye' });
    await disposed;

    expect(t.supervisor.connection(a1.id)).toBeUndefined();
    expect(a1.handle.send('late')).toBe(false); // inert
    expect(() => a1.handle.close()).not.toThrow(); // and closing it again does nothing
    expect(t.supervisor.connectionsOf('cy').map((c) => c.id)).toEqual([a2.id]);
    expect(t.supervisor.audit().mismatches).toEqual([]);
    await closeAll(t, [a2.ws]);
  });
});

describe('sending', () => {
  it("sendToUser reaches every open connection of that user, and nobody else's", async () => {
    const t = await startRulesServer();
    const d1 = await t.open('dee');
    const d2 = await t.open('dee');
    const e1 = await t.open('eve');
    const eveInbox = inbox(e1.ws);
    const got = Promise.all([nextMessage(d1.ws), nextMessage(d2.ws)]);

    expect(t.supervisor.sendToUser('dee', 'hello dee')).toBe(2);
    expect(await got).toEqual(['hello dee', 'hello dee']);
    expect(t.supervisor.sendToUser('nobody', 'hi')).toBe(0);

    const binary = nextMessage(d1.ws);
    const twice = nextMessage(d2.ws);
    expect(t.supervisor.sendToUser('dee', Buffer.from('bytes'), { binary: true })).toBe(2);
    expect([await binary, await twice]).toEqual(['bytes', 'bytes']);
    // Eve's echo round trip comes after anything sent to her before it.
    e1.ws.send('ping');
    expect(await nextMessage(e1.ws)).toBe('ping');
    expect(eveInbox).toEqual(['ping']);
    await closeAll(t, [d1.ws, d2.ws, e1.ws]);
  });

  it('broadcast reaches every open connection, or those the filter accepts', async () => {
    const t = await startRulesServer();
    const clients = [await t.open('fay'), await t.open('gus'), await t.open('gus')];
    const all = Promise.all(clients.map((c) => nextMessage(c.ws)));
    expect(t.supervisor.broadcast('to all')).toBe(3);
    expect(await all).toEqual(['to all', 'to all', 'to all']);

    const [sender, ...others] = clients as [(typeof clients)[0], ...typeof clients];
    const senderInbox = inbox(sender.ws);
    const rest = Promise.all(others.map((c) => nextMessage(c.ws)));
    expect(t.supervisor.broadcast('not to fay', { filter: (c) => c.id !== sender.id })).toBe(2);
    expect(await rest).toEqual(['not to fay', 'not to fay']);
    sender.ws.send('ping');
    expect(await nextMessage(sender.ws)).toBe('ping');
    expect(senderInbox).toEqual(['ping']);
    await closeAll(
      t,
      clients.map((c) => c.ws),
    );
  });

  it("a filter that throws: broadcast throws the filter's own error and has sent to no one", async () => {
    const t = await startRulesServer();
    const clients = [await t.open('fay'), await t.open('gus'), await t.open('hal'), await t.open('ivy')];
    const inboxes = clients.map((c) => inbox(c.ws));
    const boom = new Error('filter boom');
    let calls = 0;
    const filter = () => {
      calls += 1;
      if (calls === 3) throw boom; // after two connections it accepted
      return true;
    };
    expect(() => t.supervisor.broadcast('half', { filter })).toThrow(boom);
    expect(calls).toBe(3);
    // A round trip on each: anything broadcast before it would have arrived by now.
    for (const c of clients) {
      c.ws.send('ping');
      expect(await nextMessage(c.ws)).toBe('ping');
    }
    expect(inboxes).toEqual(clients.map(() => ['ping']));
    // A filter that returns runs once on each connection, as before.
    const seen: string[] = [];
    const every = (c: { id: string }) => {
      seen.push(c.id);
      return true;
    };
    expect(t.supervisor.broadcast('all', { filter: every })).toBe(4);
    expect(seen.sort()).toEqual(clients.map((c) => c.id).sort());
    await closeAll(
      t,
      clients.map((c) => c.ws),
    );
  });

  it('onMessage gets a Buffer and isBinary; send() of a Buffer is a binary frame unless { binary: false }', async () => {
    const received: Array<[boolean, boolean]> = [];
    const t = await startRulesServer({
      onMessage: (_connection, data, isBinary) => void received.push([Buffer.isBuffer(data), isBinary]),
    });
    const { ws, handle } = await t.open('ida');
    const frames: Array<[string, boolean]> = [];
    const arrived = new Promise<void>((resolve) =>
      ws.on('message', (data: Buffer, isBinary) => {
        if (frames.push([data.toString(), isBinary]) === 3) resolve();
      }),
    );
    ws.send('text');
    ws.send(Buffer.from('bytes'));
    await vi.waitFor(
      () =>
        expect(received).toEqual([
          [true, false],
          [true, true],
        ]),
      ioWait,
    );

    expect(handle.send(Buffer.from('a buffer'))).toBe(true);
    expect(handle.send(Buffer.from('a buffer as text'), { binary: false })).toBe(true);
    expect(handle.send('a string')).toBe(true);
    await arrived;
    expect(frames).toEqual([
      ['a buffer', true],
      ['a buffer as text', false],
      ['a string', false],
    ]);
    await closeAll(t, [ws]);
  });

  it("broadcast's filter reads the app data as createSupervisor<Data>() typed it", () => {
    // Types only: rooms kept in app data are read without a cast (README "Coming from Socket.IO").
    type Filter = NonNullable<
      NonNullable<Parameters<Supervisor<{ rooms: Set<string> }>['broadcast']>[1]>['filter']
    >;
    expectTypeOf<Parameters<Filter>[0]['data']>().toEqualTypeOf<{ rooms: Set<string> } | undefined>();
  });
});

describe('a connection still connecting', () => {
  it('is listed by connectionsOf, with no socket yet, but nothing is sent to it; disconnectUser closes it', async () => {
    // The app's server holds the handshake: an asynchronous verifyClient that never answers.
    const webSocketServer = new WebSocketServer({
      noServer: true,
      maxPayload: 65_536,
      verifyClient: (_info, _answer) => {},
    });
    onTestFinished(() => void webSocketServer.close());
    const t = await startRulesServer({ webSocketServer });
    const refused = httpRefusal(t.url('wes'));
    await vi.waitFor(() => expect(t.supervisor.stats().byState.connecting).toBe(1), ioWait);

    const [handle] = t.supervisor.connectionsOf('wes');
    expect(handle?.userId).toBe('wes');
    expect(handle?.socket).toBeUndefined();
    expect(handle?.send('early')).toBe(false);
    expect(t.supervisor.sendToUser('wes', 'early')).toBe(0);
    expect(t.supervisor.broadcast('early')).toBe(0);

    expect(t.supervisor.disconnectUser('wes')).toBe(1);
    expect(await refused).toMatchObject({ status: 403, body: 'Forbidden\n' });
    await allDisposed(t.supervisor);
    expect(t.events.disposed).toMatchObject([{ userId: 'wes', reason: 'app-close', httpStatus: 403 }]);
    expectNoLeaks(t.supervisor);
  });
});

describe('disconnectUser', () => {
  it("closes every live connection of the user gracefully with the code and reason given, and nobody else's", async () => {
    const t = await startRulesServer();
    const h1 = await t.open('hal');
    const h2 = await t.open('hal');
    const i1 = await t.open('ivy');
    const closes = Promise.all([closeOf(h1.ws), closeOf(h2.ws)]);
    // Listened for before the closes: the server may dispose both before the clients see theirs.
    const halGone = nextEvent(t.supervisor, 'disposed', () => t.supervisor.userStats('hal') === undefined);

    expect(t.supervisor.disconnectUser('hal', 4003, 'kicked')).toBe(2);
    expect(t.supervisor.connectionsOf('hal')).toEqual([]);
    expect(t.supervisor.userStats('hal')).toMatchObject({ live: 0, draining: 2 });
    expect(await closes).toEqual([
      { code: 4003, reason: 'kicked' },
      { code: 4003, reason: 'kicked' },
    ]);
    await halGone;
    expect(t.events.disposed.map((e) => [e.userId, e.reason, e.closeCode])).toEqual([
      ['hal', 'app-close', 4003],
      ['hal', 'app-close', 4003],
    ]);
    expect(t.supervisor.disconnectUser('hal')).toBe(0); // nothing left to kick
    expect(t.supervisor.connectionsOf('ivy')).toEqual([i1.handle]);
    await closeAll(t, [i1.ws]);
  });

  it('closes with 1000 and no reason by default', async () => {
    const t = await startRulesServer();
    const j1 = await t.open('jo');
    const closing = closeOf(j1.ws);
    expect(t.supervisor.disconnectUser('jo')).toBe(1);
    expect(await closing).toEqual({ code: 1000, reason: '' });
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });
});

describe('closing a connection from the admitted event', () => {
  // The `admitted` event comes while the user's supervisor admits the
  // connection, before its actor has started: a close asked for then must
  // still reach it. The clock never moves: nothing but the close can end it.
  // Over HTTP there is no close code to carry: the app refused it, so the
  // client gets 403 with the app's reason (Forbidden without one), never a
  // 503 that says the server is unavailable and asks it to come back.
  it.each([
    ['disconnectUser()', (t: RulesServer) => t.supervisor.disconnectUser('kim', 4003, 'kicked'), 'kicked'],
    [
      'close() on its handle',
      (t: RulesServer, id: string) => t.supervisor.connection(id)?.close(4003, 'kicked'),
      'kicked',
    ],
    ['disconnectUser() with no reason', (t: RulesServer) => t.supervisor.disconnectUser('kim'), 'Forbidden'],
  ])(
    '%s: the handshake is refused with 403 and the app’s reason, the connection disposed as app-close, and nothing is left',
    async (_name, kick, body) => {
      const t = await startRulesServer();
      t.supervisor.on('admitted', ({ connectionId }) => kick(t, connectionId));
      expect(await httpRefusal(t.url('kim'))).toEqual({
        status: 403,
        headers: expect.not.objectContaining({ 'retry-after': expect.anything() }),
        body: `${body}\n`,
      });
      await allDisposed(t.supervisor);
      expect(t.events.disposed).toMatchObject([{ userId: 'kim', reason: 'app-close' }]);
      expect(t.handles).toEqual([]); // onOpen never ran
      expectNoLeaks(t.supervisor);
      expect(t.errors).toEqual([]);
    },
  );

  // A code of the library's own close-code table (4000 + 400, 401, 403, 429,
  // 500 or 503) is answered with that status over HTTP; a 429 or 503 gets the
  // `refused` default hint, as a Refusal(429) or Refusal(503) without one does.
  // Any other code stays 403, even 4000 + another status (4404, 4405).
  it.each([
    [4429, 'slow down', 429, 'slow down', '5'],
    [4503, 'back soon', 503, 'back soon', '5'],
    [4404, '', 403, 'Forbidden', undefined],
    [4405, 'needs Allow', 403, 'needs Allow', undefined],
    [4401, '', 401, 'Unauthorized', undefined],
    [4400, 'bad', 400, 'bad', undefined],
    [4500, 'oops', 500, 'oops', undefined],
    [4403, 'banned', 403, 'banned', undefined],
    [4420, 'not a status', 403, 'not a status', undefined],
    [4600, 'past 4599', 403, 'past 4599', undefined],
    [4399, '', 403, 'Forbidden', undefined],
    [3429, 'not 4000 + 429', 403, 'not 4000 + 429', undefined],
  ])(
    'close(%i, %j) from the admitted event is answered with HTTP %i',
    async (code, reason, status, body, retryAfter) => {
      const t = await startRulesServer();
      t.supervisor.on('admitted', ({ connectionId }) =>
        t.supervisor.connection(connectionId)?.close(code, reason),
      );
      const answer = await httpRefusal(t.url('kim'));
      expect(answer).toMatchObject({ status, body: `${body}\n` });
      expect(answer.headers['retry-after']).toBe(retryAfter);
      await allDisposed(t.supervisor);
      expect(t.events.disposed).toMatchObject([{ userId: 'kim', reason: 'app-close' }]);
      expectNoLeaks(t.supervisor);
      expect(t.errors).toEqual([]);
    },
  );
});

/** What the registry and the books say of `user` now, as an app would read them in a hook. */
function viewOf(supervisor: Supervisor, user: string) {
  const book = supervisor.userStats(user);
  return {
    listed: supervisor.connectionsOf(user).map((c) => c.id),
    live: book?.live,
    idle: book?.idle,
    draining: book?.draining,
    byState: supervisor.stats().byState,
  };
}

/** viewOf() of a user whose one connection was just closed: unlisted, counted draining at once. */
const aloneDraining = {
  listed: [],
  live: 0,
  idle: 0,
  draining: 1,
  byState: { connecting: 0, active: 0, draining: 1 },
};

/** A client whose close (or HTTP refusal) is listened for from the start: the server may end it at once. */
function dial(url: string): { ws: WebSocket; ended: Promise<unknown> } {
  const ws = new WebSocketClient(url);
  onTestFinished(() => ws.terminate());
  const ended = new Promise((resolve) => {
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() }));
    ws.once('unexpected-response', (request, response) => {
      resolve({ status: response.statusCode });
      response.resume();
      request.destroy();
    });
    ws.on('error', () => {});
  });
  return { ws, ended };
}

// Inside a step of the connection's own actor (onOpen; onMessage on an idle connection,
// which that message makes live) or of its user's supervisor (an `admitted`, `evicted` or
// `disposed` listener), the actor takes the close only once that step is over. The books
// must not wait for it: a trial found connectionsOf() and userStats() still counting it live
// after close() there, until the step ended.
describe('a connection closed inside a step of its own actor or of its supervisor leaves the books at once', () => {
  it('closed by its own onOpen', async () => {
    const seen: unknown[] = [];
    const t: RulesServer = await startRulesServer({
      onOpen: (connection) => {
        if (connection.userId !== 'opal') return;
        connection.close(4000, 'bye');
        seen.push({
          ...viewOf(t.supervisor, 'opal'),
          send: connection.send('late'),
          join: connection.join('r'),
        });
      },
    });
    const client = dial(t.url('opal'));
    const received = inbox(client.ws);
    expect(await client.ended).toEqual({ code: 4000, reason: 'bye' });
    expect(seen).toEqual([{ ...aloneDraining, send: false, join: false }]);
    expect(received).toEqual([]);
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });

  it('closed by an admitted listener, before it opens', async () => {
    const t = await startRulesServer();
    const seen: unknown[] = [];
    t.supervisor.on('admitted', ({ connectionId }) => {
      t.supervisor.connection(connectionId)?.close(4003, 'no');
      seen.push(viewOf(t.supervisor, 'ada'));
    });
    expect(await dial(t.url('ada')).ended).toEqual({ status: 403 });
    expect(seen).toEqual([aloneDraining]);
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });

  it("closed by an admitted listener of its user's next connection (newest tab wins)", async () => {
    const t = await startRulesServer();
    const older = await t.open('nia');
    const seen: unknown[] = [];
    const off = t.supervisor.on('admitted', ({ connectionId }) => {
      for (const other of t.supervisor.connectionsOf('nia'))
        if (other.id !== connectionId) other.close(4000, 'newer tab');
      seen.push({ newer: connectionId, ...viewOf(t.supervisor, 'nia') });
    });
    const closing = closeOf(older.ws);
    const newer = await t.open('nia');
    off();
    expect(seen).toEqual([
      {
        newer: newer.id,
        listed: [newer.id],
        live: 1,
        idle: 0,
        draining: 1,
        byState: { connecting: 1, active: 0, draining: 1 },
      },
    ]);
    expect(await closing).toEqual({ code: 4000, reason: 'newer tab' });
    await closeAll(t, [newer.ws]);
  });

  it('closed by onMessage on an idle connection', async () => {
    const seen: unknown[] = [];
    const t: RulesServer = await startRulesServer({
      onMessage: (connection) => {
        connection.close(4000, 'done');
        seen.push({ ...viewOf(t.supervisor, 'ivy'), send: connection.send('late') });
      },
    });
    const client = await t.open('ivy');
    t.clock.increment(idleTimeoutMs); // idle: its next message goes through its actor
    expect(t.supervisor.userStats('ivy')).toMatchObject({ live: 1, idle: 1 });
    const closing = closeOf(client.ws);
    const received = inbox(client.ws);
    client.ws.send('bye');
    expect(await closing).toEqual({ code: 4000, reason: 'done' });
    expect(seen).toEqual([{ ...aloneDraining, send: false }]);
    expect(received).toEqual([]);
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });

  it("closed by a disposed listener of its user's other connection", async () => {
    const t = await startRulesServer();
    const [first, second, third] = [await t.open('dot'), await t.open('dot'), await t.open('dot')];
    const seen: unknown[] = [];
    const off = t.supervisor.on('disposed', ({ connectionId }) => {
      if (connectionId !== first.id) return;
      second.handle.close(4000, 'you too');
      seen.push(viewOf(t.supervisor, 'dot'));
    });
    const closing = closeOf(second.ws);
    first.ws.close();
    expect(await closing).toEqual({ code: 4000, reason: 'you too' });
    off();
    expect(seen).toEqual([
      {
        listed: [third.id],
        live: 1,
        idle: 0,
        draining: 1,
        byState: { connecting: 0, active: 1, draining: 1 },
      },
    ]);
    await closeAll(t, [third.ws]);
  });

  // The close comes in the middle of the supervisor's step, which then books the newcomer:
  // that later book of the same step must not list the closed one again.
  it('closed by an evicted listener while a newcomer is admitted, and still out of the books in its admitted listener', async () => {
    const t = await startRulesServer();
    const clients: Client[] = [];
    for (let i = 0; i < evictAt - 1; i++) {
      if (i > 0) t.clock.increment(1);
      clients.push(await t.open('eva'));
    }
    const [oldest, kept, closed] = clients as [Client, Client, Client];
    t.clock.increment(idleTimeoutMs - (evictAt - 2)); // only the oldest is idle
    expect(t.supervisor.userStats('eva')).toMatchObject({ live: 3, idle: 1 });
    const seen: unknown[] = [];
    t.supervisor.on('evicted', () => {
      closed.handle.close(4000, 'kicked');
      seen.push({ in: 'evicted', ...viewOf(t.supervisor, 'eva') });
    });
    t.supervisor.on('admitted', ({ connectionId }) =>
      seen.push({ in: 'admitted', newer: connectionId, ...viewOf(t.supervisor, 'eva') }),
    );
    const closes = [closeOf(oldest.ws), closeOf(closed.ws)];
    const newer = await t.open('eva'); // n = T: the oldest, idle, is evicted
    expect(seen).toEqual([
      {
        in: 'evicted',
        listed: [kept.id],
        live: 1,
        idle: 0,
        draining: 2,
        byState: { connecting: 0, active: 1, draining: 2 },
      },
      {
        in: 'admitted',
        newer: newer.id,
        listed: [kept.id, newer.id],
        live: 2,
        idle: 0,
        draining: 2,
        byState: { connecting: 1, active: 1, draining: 2 },
      },
    ]);
    expect(await Promise.all(closes)).toEqual([
      { code: 4001, reason: 'evicted: idle' },
      { code: 4000, reason: 'kicked' },
    ]);
    await closeAll(t, [kept.ws, newer.ws]);
  });
});

describe("sendToUser given broadcast's and sendToRoom's except", () => {
  it('refuses it: a user is not everyone (broadcast-except.test.ts has broadcast take it)', async () => {
    const t = await startRulesServer();
    const k1 = await t.open('kim');
    const except = { except: k1.handle.id } as unknown as { binary: boolean };
    expect(() => t.supervisor.sendToUser('kim', 'x', except)).toThrow(
      'sendToUser options: unknown key except, expected one of binary, volatile, cluster',
    );
    await closeAll(t, [k1.ws]);
  });
});

describe('bad arguments throw WSSUP_INVALID_ARGUMENT and change nothing', () => {
  const longReason = 'x'.repeat(124);
  const calls: Array<[string, (t: RulesServer) => unknown]> = [
    ['connectionsOf(42)', (t) => t.supervisor.connectionsOf(42 as unknown as string)],
    ["connectionsOf('')", (t) => t.supervisor.connectionsOf('')],
    ['connectionsOf(a control character)', (t) => t.supervisor.connectionsOf('k\u0000m')],
    ['connection(undefined)', (t) => t.supervisor.connection(undefined as unknown as string)],
    // As userStats(id, { cluster: true }) rejects: it returned undefined, as for a user with no connection.
    ['userStats(42)', (t) => t.supervisor.userStats(42 as unknown as string)],
    ["userStats('')", (t) => t.supervisor.userStats('')],
    ['userStats(a control character)', (t) => t.supervisor.userStats('k\u0000m')],
    ['userStats(an id over 128 bytes)', (t) => t.supervisor.userStats('k'.repeat(129))],
    // Options that are not an object, as stats() refuses them: they were read as no options.
    ['userStats(user, null)', (t) => t.supervisor.userStats('kim', null as unknown as { cluster: true })],
    [
      "userStats(user, 'cluster')",
      (t) => t.supervisor.userStats('kim', 'cluster' as unknown as { cluster: true }),
    ],
    ['stats(null)', (t) => t.supervisor.stats(null as unknown as undefined)],
    ["stats('perUser')", (t) => t.supervisor.stats('perUser' as unknown as undefined)],
    ["sendToUser('', data)", (t) => t.supervisor.sendToUser('', 'x')],
    ['sendToUser(user, a number)', (t) => t.supervisor.sendToUser('kim', 42 as unknown as string)],
    ['sendToUser(user, an object)', (t) => t.supervisor.sendToUser('kim', {} as unknown as string)],
    [
      'sendToUser(user, data, { binary: "yes" })',
      (t) => t.supervisor.sendToUser('kim', 'x', { binary: 'yes' as unknown as boolean }),
    ],
    ['broadcast(null)', (t) => t.supervisor.broadcast(null as unknown as string)],
    [
      'broadcast(data, { filter: 1 })',
      (t) => t.supervisor.broadcast('x', { filter: 1 as unknown as () => boolean }),
    ],
    // An except that is not a connection id (its handle, a Socket.IO habit), as sendToRoom refuses it.
    [
      'broadcast(data, { except: handle })',
      (t) =>
        t.supervisor.broadcast('x', {
          except: t.supervisor.connectionsOf('kim')[0] as unknown as string,
        }),
    ],
    // An unknown key is refused, as sendToRoom refuses one.
    [
      'broadcast(data, { binery: true })',
      (t) => t.supervisor.broadcast('x', { binery: true } as unknown as { binary: boolean }),
    ],
    [
      'sendToUser(user, data, { except: id })',
      (t) =>
        t.supervisor.sendToUser('kim', 'x', {
          except: t.supervisor.connectionsOf('kim')[0]?.id,
        } as unknown as {
          binary: boolean;
        }),
    ],
    // A misspelt cluster flag was ignored: the user was disconnected on this process only.
    [
      "disconnectUser(user, 4000, 'x', { clustr: true })",
      (t) => t.supervisor.disconnectUser('kim', 4000, 'x', { clustr: true } as unknown as { cluster: true }),
    ],
    // Per process only: a cluster flag (or anything) as a second argument was ignored, and a
    // caller who asked for every process's connections got this one's as if they were all.
    [
      'connectionsOf(user, { cluster: true })',
      (t) => (t.supervisor.connectionsOf as (...args: unknown[]) => unknown)('kim', { cluster: true }),
    ],
    [
      'roomMembers(room, { cluster: true })',
      (t) => (t.supervisor.roomMembers as (...args: unknown[]) => unknown)('lobby', { cluster: true }),
    ],
    [
      'roomSize(room, { cluster: true })',
      (t) => (t.supervisor.roomSize as (...args: unknown[]) => unknown)('lobby', { cluster: true }),
    ],
    ["disconnectUser('')", (t) => t.supervisor.disconnectUser('')],
    ['disconnectUser(user, 1001)', (t) => t.supervisor.disconnectUser('kim', 1001)],
    ['disconnectUser(user, 5000)', (t) => t.supervisor.disconnectUser('kim', 5000)],
    ['disconnectUser(user, 3000.5)', (t) => t.supervisor.disconnectUser('kim', 3000.5)],
    [
      'disconnectUser(user, 4000, a reason over 123 bytes)',
      (t) => t.supervisor.disconnectUser('kim', 4000, longReason),
    ],
  ];

  it('connectionsOf and roomMembers passed as callbacks (an index as second argument) work as before', async () => {
    const t = await startRulesServer();
    const k1 = await t.open('kim');
    k1.handle.join('lobby');
    expect(['kim'].map(t.supervisor.connectionsOf)).toEqual([[k1.handle]]);
    expect(['lobby'].map(t.supervisor.roomMembers)).toEqual([[k1.handle]]);
    expect(['lobby'].map(t.supervisor.roomSize)).toEqual([1]);
    expect(() =>
      (t.supervisor.connectionsOf as (...args: unknown[]) => unknown)('kim', { cluster: true }),
    ).toThrow(/userStats\(userId, \{ cluster: true \}\)/);
    expect(() =>
      (t.supervisor.roomMembers as (...args: unknown[]) => unknown)('lobby', { cluster: true }),
    ).toThrow(/sendToRoom\(room, data, \{ cluster: true \}\)/);
    await closeAll(t, [k1.ws]);
  });

  it.each(calls)('%s', async (_name, call) => {
    const t = await startRulesServer();
    const k1 = await t.open('kim');
    const kimInbox = inbox(k1.ws);
    const before = t.supervisor.stats();
    let thrown: unknown;
    try {
      call(t);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(SupervisorError);
    expect(thrown).toMatchObject({ code: 'WSSUP_INVALID_ARGUMENT' });
    expect(t.supervisor.stats()).toEqual(before);
    k1.ws.send('ping'); // nothing was sent before this echo, and kim is still connected
    expect(await nextMessage(k1.ws)).toBe('ping');
    expect(kimInbox).toEqual(['ping']);
    await closeAll(t, [k1.ws]);
  });
});
