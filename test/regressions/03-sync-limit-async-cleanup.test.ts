/**
 * Incident mechanism 3: the limit was checked synchronously at connect,
 * while cleanup of the previous connection ran later, asynchronously. A
 * client reconnecting quickly found its old manager still counted.
 *
 * Here the slot is released inside the server socket's `close` event, by the
 * actor reaching `disposed` in that same synchronous step; and the limit is
 * decided synchronously from the same book. Replayed with a client at the
 * limit that reconnects the moment the server has closed its old socket.
 */
import { describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import { closeOf, startRulesServer } from '../helpers/rules.js';
import { allDisposed, expectNoLeaks } from '../helpers/server.js';

describe('regression: a synchronous limit against asynchronous cleanup', () => {
  it('never refuses a reconnect that follows the close of the old socket', async () => {
    const t = await startRulesServer(); // limit 5
    const user = 'user-101463';
    const open = async () => (await t.open(user)).ws;
    const clients: WebSocket[] = [];
    for (let i = 0; i < 5; i += 1) clients.push(await open());

    // 200 reconnects, each while the user is at the limit: the client closes its
    // oldest socket and is back the moment the close handshake is done.
    for (let i = 0; i < 200; i += 1) {
      const oldest = clients.shift() as WebSocket;
      const gone = closeOf(oldest);
      oldest.close(1000);
      await gone;
      clients.push(await open());
    }

    expect(t.events.rejected).toEqual([]);
    expect(t.supervisor.userStats(user)?.live).toBe(5);
    for (const ws of clients) ws.close();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });

  it('has the slot free inside the server socket close event itself', async () => {
    const t = await startRulesServer();
    const user = 'user-101463';
    const first = await t.open(user);
    for (let i = 0; i < 4; i += 1) await t.open(user);
    const seenAtClose: number[] = [];
    // Registered after the library's own listener: it runs right after it.
    first.handle.socket?.on('close', () => seenAtClose.push(t.supervisor.userStats(user)?.live ?? 0));
    const gone = closeOf(first.ws);
    first.ws.close(1000);
    await gone;
    expect(seenAtClose).toEqual([4]);
  });
});
