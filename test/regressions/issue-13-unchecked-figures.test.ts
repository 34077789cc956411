/**
 * Issue 13, item 17: semantic mutants of the runtime passed the whole suite.
 * Each documented figure gets an assertion here:
 *   - `users` counts users holding a connecting or active connection, not
 *     those holding only draining ones;
 *   - `lifetimeMs` is the time from admission to disposal, not a clock reading;
 *   - a socket never outlives its connection actor: when the actor stops with
 *     the socket still open, the adapter's last-resort undo terminates it;
 *   - a user supervisor that outlives its last connection fails a named test
 *     at once, not a whole suite's timeout later.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import { describe, expect, it, onTestFinished } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import type { ConnectionEvent } from '../../machines/events.js';
import { Books } from '../../src/books.js';
import { afterWaitingIo } from '../../src/clock.js';
import { defaultRetryAfterMs } from '../../src/options.js';
import { messageFit } from '../../src/send-arguments.js';
import { createSendEdges } from '../../src/send-edges.js';
import { type ConnectionEnv, WsConnection } from '../../src/transport/ws-adapter.js';
import { closeOf, drainTimeoutMs, startRulesServer, stopReading } from '../helpers/rules.js';
import { allDisposed, closeServer, expectNoLeaks, listenOnLoopback } from '../helpers/server.js';

describe('the figures of stats() and the disposed event', () => {
  it('users: a user whose only connection is draining is not counted', async () => {
    const t = await startRulesServer();
    const { ws, handle } = await t.open('wyn');
    expect(t.supervisor.stats().users).toBe(1);
    stopReading(ws); // it will not answer our close frame: the connection stays draining
    handle.close(4000, 'bye');
    expect(t.supervisor.userStats('wyn')).toMatchObject({ live: 0, draining: 1 });
    expect(t.supervisor.stats()).toMatchObject({ users: 0, connections: 1, byState: { draining: 1 } });
    t.clock.increment(drainTimeoutMs);
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });

  it('lifetimeMs: from admission to disposal, in onClose and in the disposed event', async () => {
    const lifetimes: number[] = [];
    const t = await startRulesServer({
      onClose: (_connection, info) => void lifetimes.push(info.lifetimeMs),
    });
    t.clock.increment(10_000); // the clock reads 10 s before anyone connects
    const { ws } = await t.open('xan');
    t.clock.increment(1_234);
    const closed = closeOf(ws);
    ws.close();
    await closed;
    await allDisposed(t.supervisor);
    expect(lifetimes).toEqual([1_234]);
    expect(t.events.disposed.map((event) => event.lifetimeMs)).toEqual([1_234]);
    expectNoLeaks(t.supervisor);
  });

  it('a user supervisor ends with its last connection (lingerMs 0): none is left at once', async () => {
    const t = await startRulesServer({ lingerMs: 0 });
    const { ws } = await t.open('yael');
    expect(t.supervisor.stats().resources.userSupervisors).toBe(1);
    ws.close();
    await allDisposed(t.supervisor);
    // No delay, no wait: the supervisor stopped in the same step as its last child.
    expect(t.supervisor.stats().resources).toMatchObject({ userSupervisors: 0, lingeringSupervisors: 0 });
  });
});

describe('the ws adapter', () => {
  it('terminates a socket still open when its actor stops without closing it', async () => {
    const wss = new WebSocketServer({ noServer: true, clientTracking: false });
    const env: ConnectionEnv = {
      wss,
      maxBufferedBytes: 1_000_000,
      messageFit: messageFit(1_000_000),
      hooks: {},
      report: (error) => {
        throw error;
      },
      now: () => 0,
      activity: 'both',
      idleTimeoutMs: 60_000,
      idleSinceSend: () => {},
      bookLeaving: () => {},
      books: new Books(),
      maxRoomsPerConnection: 100,
      sendEdges: createSendEdges(afterWaitingIo),
      listeners: 0,
      retryHints: defaultRetryAfterMs,
    };
    const events: ConnectionEvent[] = [];
    let undo: (() => void) | undefined;
    let connection: WsConnection | undefined;
    const server = createServer();
    server.on('upgrade', (request, socket, head) => {
      connection = new WsConnection(env, 'id', 'zoe', undefined, 0, { request, socket, head });
      // What the connection actor does when it starts (bindTransport), and later undoes.
      undo = connection.subscribe((event) => events.push(event));
      connection.completeHandshake();
    });
    const port = await listenOnLoopback(server);
    onTestFinished(() => closeServer(server));
    const client = new WebSocket(`ws://127.0.0.1:${port}/`);
    onTestFinished(() => client.terminate());
    await once(client, 'open');
    expect(events).toEqual([{ type: 'SOCKET_OPENED' }]);
    expect(env.listeners).toBe(5);

    undo?.(); // the actor stopped while the socket was open (a failure, a parent stopping it)
    const [code] = (await once(client, 'close')) as [number];
    expect(code).toBe(1006); // terminated: no close frame
    expect(connection?.socket?.readyState).toBe(WebSocket.CLOSED);
    expect(env.listeners).toBe(0);
    expect(events).toEqual([{ type: 'SOCKET_OPENED' }]); // nothing reaches an actor that is gone
  });
});
