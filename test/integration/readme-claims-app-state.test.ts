/**
 * README, where an app keeps its own state ("Options": `onMessage`; "Close codes and HTTP
 * statuses": shutdown and refusal bodies; "Coexisting with other upgrade handlers": several
 * paths; "Registry": per-connection and per-user state, presence, inert handles). Each claim
 * a new user's trial tripped on, pinned on real sockets. No timing: gates the test opens.
 */
import { createServer } from 'node:http';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { WebSocket } from 'ws';
import { type ConnectionHandle, createSupervisor, Refusal } from '../../src/index.js';
import { refusal, resumeReading, stopReading, waitForUser } from '../helpers/rules.js';
import {
  allDisposed,
  closed,
  closeServer,
  connect,
  connectRefused,
  expectNoLeaks,
  ioWait,
  listenOnLoopback,
  startServer,
  userFromQuery,
} from '../helpers/server.js';

/** A promise the test resolves. */
function gate(): { opened: Promise<void>; open(): void } {
  let open = () => {};
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

describe('README: async onMessage calls of one connection are not serialised', () => {
  it('sent slow then fast: start slow, start fast, end fast, end slow', async () => {
    const log: string[] = [];
    const slow = gate();
    const t = await startServer({
      onMessage: async (_connection, data) => {
        const text = data.toString();
        log.push(`start ${text}`);
        if (text === 'slow') await slow.opened;
        log.push(`end ${text}`);
      },
    });
    const ws = await connect(t.url('amy'));
    ws.send('slow');
    ws.send('fast');
    await vi.waitFor(() => expect(log).toContain('end fast'), ioWait);
    expect(log).toEqual(['start slow', 'start fast', 'end fast']);
    slow.open();
    await vi.waitFor(() => expect(log).toEqual(['start slow', 'start fast', 'end fast', 'end slow']), ioWait);
  });
});

describe('README: shutdown() does not wait for an async hook still awaiting', () => {
  it('the handler resumes after onClose and shutdown(): send() and join() false, connection(id) undefined', async () => {
    const log: string[] = [];
    const resume = gate();
    const started = gate();
    let after: { sent: boolean; joined: boolean; registered: boolean } | undefined;
    const t = await startServer({
      onMessage: async (connection) => {
        started.open();
        await resume.opened;
        after = {
          sent: connection.send('late'),
          joined: connection.join('lobby'),
          registered: t.supervisor.connection(connection.id) !== undefined,
        };
        log.push('handler resumed');
      },
      onClose: () => void log.push('onClose'),
    });
    const ws = await connect(t.url('amy'));
    ws.send('hello');
    await started.opened;
    await t.supervisor.shutdown();
    log.push('shutdown resolved');
    resume.open();
    await vi.waitFor(() => expect(log).toContain('handler resumed'), ioWait);
    expect(log).toEqual(['onClose', 'shutdown resolved', 'handler resumed']);
    expect(after).toEqual({ sent: false, joined: false, registered: false });
    expectNoLeaks(t.supervisor);
  });
});

describe("README: an HTTP refusal's body is its message followed by a newline", () => {
  it("Refusal(403, 'no chat for you') and null", async () => {
    const t = await startServer({
      authenticate: (request) => {
        const user = userFromQuery(request);
        if (user === 'mallory') throw new Refusal(403, 'no chat for you');
        return null;
      },
    });
    expect(await refusal(t.url('mallory'))).toEqual({ status: 403, body: 'no chat for you\n' });
    expect(await refusal(t.url('nobody'))).toEqual({ status: 401, body: 'unauthenticated\n' });
  });

  it("with refuse: 'close' the reason has no newline", async () => {
    const t = await startServer({
      refuse: 'close',
      authenticate: () => {
        throw new Refusal(403, 'no chat for you');
      },
    });
    const ws = new WebSocket(t.url('mallory'));
    onTestFinished(() => ws.terminate());
    expect(await closed(ws)).toEqual({ code: 4403, reason: 'no chat for you refusal=refused' });
  });
});

describe('README: one supervisor attached to several paths keeps one limit per user', () => {
  it("a user's connections on /a and /b count against the same maxConnectionsPerUser", async () => {
    const supervisor = createSupervisor({
      preset: 'test',
      maxConnectionsPerUser: 1,
      authenticate: userFromQuery,
    });
    const server = createServer();
    supervisor.attach(server, { path: '/a' });
    supervisor.attach(server, { path: '/b' });
    const port = await listenOnLoopback(server);
    onTestFinished(async () => {
      await supervisor.shutdown({ deadlineMs: 200 });
      await closeServer(server);
    });
    await connect(`ws://127.0.0.1:${port}/a?user=amy`);
    expect(await connectRefused(`ws://127.0.0.1:${port}/b?user=amy`)).toBe(429);
    expect(supervisor.userStats('amy')).toMatchObject({ live: 1, limit: 1 });
  });
});

describe('README, "Registry": where per-connection and per-user state lives', () => {
  it('the handle is the same object in every hook; per-user state is free when userStats() is undefined, whatever lingerMs', async () => {
    const seen = new Map<string, Set<ConnectionHandle>>();
    const see = (connection: ConnectionHandle) => {
      const handles = seen.get(connection.id) ?? new Set<ConnectionHandle>();
      handles.add(connection);
      seen.set(connection.id, handles);
    };
    const atClose: { userStats: unknown; connectionsOf: number }[] = [];
    const atDisposed: unknown[] = [];
    const t = await startServer({
      preset: 'production',
      lingerMs: 5_000,
      onOpen: see,
      onMessage: (connection) => {
        see(connection);
        connection.send('ok');
      },
      onClose: (connection) => {
        see(connection);
        const user = t.supervisor.userStats(connection.userId);
        atClose.push({
          userStats: user && { live: user.live, draining: user.draining },
          connectionsOf: t.supervisor.connectionsOf(connection.userId).length,
        });
      },
    });
    t.supervisor.on('admitted', ({ connectionId }) => {
      const handle = t.supervisor.connection(connectionId);
      if (handle !== undefined) see(handle);
    });
    t.supervisor.on('disposed', ({ userId }) => void atDisposed.push(t.supervisor.userStats(userId)));
    const first = await connect(t.url('amy'));
    const second = await connect(t.url('amy'));
    for (const ws of [first, second]) {
      const reply = new Promise((resolve) => ws.once('message', resolve));
      ws.send('hi');
      await reply;
    }
    // The second drains (its client reads nothing, so never answers the close) while the first ends.
    stopReading(second);
    const [, draining] = t.supervisor.connectionsOf('amy');
    draining?.close();
    await waitForUser(t.supervisor, 'amy', { live: 1, draining: 1 });
    first.close();
    await waitForUser(t.supervisor, 'amy', { live: 0, draining: 1 });
    resumeReading(second);
    await allDisposed(t.supervisor);

    expect(seen.size).toBe(2);
    for (const handles of seen.values()) expect(handles.size).toBe(1);
    // The earlier onClose: connectionsOf() is empty already, the user's book is not.
    expect(atClose).toEqual([
      { userStats: { live: 0, draining: 1 }, connectionsOf: 0 },
      { userStats: undefined, connectionsOf: 0 },
    ]);
    // The same in the `disposed` listener: undefined at the last connection only (not presence: the `offline` event is).
    expect(atDisposed[0]).toMatchObject({ live: 0, draining: 1 });
    expect(atDisposed[1]).toBeUndefined();
  });
});
