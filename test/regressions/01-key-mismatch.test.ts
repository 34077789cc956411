/**
 * Incident mechanism 1: a key recomputed differently at creation and at
 * cleanup. The leaking service built its cleanup key from ids generated
 * again at close time (`websocket_factory_<ts>` at create, then
 * `thread_websocket_factory_<ts>_<n>_<hex>` at cleanup), found nothing to
 * free, and the user hit the limit.
 *
 * Here cleanup never recomputes or looks anything up: the connection actor
 * is created with its id and frees its own slot when it ends. Replayed with
 * an app whose ids differ on every call, as the incident's did.
 */
import { describe, expect, it } from 'vitest';
import type { ConnectionHandle } from '../../src/index.js';
import {
  allDisposed,
  closed,
  connect,
  connectRefused,
  expectNoLeaks,
  startServer,
  userFromQuery,
} from '../helpers/server.js';

describe('regression: a cleanup key that differs from the creation key', () => {
  it('frees every slot although the app derives a different id each time it is asked', async () => {
    let calls = 0;
    const seen = new Map<string, { openedAs: string; closedAs?: string }>();
    // A fresh "thread id" on every call, in the two formats the incident mixed up.
    const threadId = () => {
      calls += 1;
      return calls % 2 === 0
        ? `websocket_factory_${Date.now()}`
        : `thread_websocket_factory_${Date.now()}_${calls}_${Math.random().toString(16).slice(2, 10)}`;
    };
    const t = await startServer({
      maxConnectionsPerUser: 20,
      authenticate: (request) => {
        const userId = userFromQuery(request);
        return userId === null ? null : { userId, correlationId: threadId() };
      },
      onOpen: (connection: ConnectionHandle) => void seen.set(connection.id, { openedAs: threadId() }),
      onClose: (connection: ConnectionHandle) => {
        const entry = seen.get(connection.id);
        if (entry) entry.closedAs = threadId();
      },
    });

    // Three rounds of 20, the incident's limit: any slot not freed would refuse the next round.
    for (let round = 0; round < 3; round += 1) {
      const clients = await Promise.all(Array.from({ length: 20 }, () => connect(t.url('user-105945'))));
      expect(t.supervisor.userStats('user-105945')?.live).toBe(20);
      await Promise.all(
        clients.map(async (ws, i) => {
          const done = closed(ws);
          if (i % 2 === 0) ws.close(1000);
          else ws.terminate(); // half of them vanish without a close frame
          await done;
        }),
      );
      await allDisposed(t.supervisor);
    }

    // The app's ids never matched between open and close (onClose ran for each, with a fresh
    // one), and it did not matter.
    expect(seen.size).toBe(60);
    const appId = expect.stringMatching(/^(thread_)?websocket_factory_/);
    for (const entry of seen.values()) {
      expect(entry).toEqual({ openedAs: appId, closedAs: appId });
      expect(entry.closedAs).not.toBe(entry.openedAs);
    }
    // Every connection was disposed under the id it was admitted with.
    expect(new Set(t.disposed.map((event) => event.connectionId))).toEqual(new Set(seen.keys()));
    expectNoLeaks(t.supervisor);
    // And the user is not stuck: the 21st concurrent one is still the only refusal.
    const clients = await Promise.all(Array.from({ length: 20 }, () => connect(t.url('user-105945'))));
    expect(await connectRefused(t.url('user-105945'))).toBe(429);
    for (const ws of clients) ws.terminate();
  });
});
