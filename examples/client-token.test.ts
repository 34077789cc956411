/**
 * ws-supervisor/client with a token that expires: the `url` function refreshes the cached token
 * when its own expiry is near or past (a page reloaded the next day, a phone back from a long
 * backgrounding whose close was a 1006) or after a 4002 (the session ran out), retried until a
 * refresh succeeds, and a `close` listener refreshes it and calls `resume()` once after a 4401 (a
 * token refused all the same: revoked, or a device clock behind the server's), never in a loop.
 * The README's "Client" quotes the region below (test/examples/readme-snippets.test.ts); vitest
 * runs it against a real server whose `authenticate` refuses expired tokens (by HTTP 401, and by
 * a 4401 close with `refuse: 'close'` as for browsers), the server and the client on one
 * SimulatedClock.
 *
 *   npx vitest run examples/client-token.test.ts   (after npm run build)
 *
 * It imports `ws-supervisor` by name, as your code will: here that resolves to this package's
 * dist/, so build first (as `npm test` does).
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect, it, onTestFinished } from 'vitest';
import WebSocket from 'ws';
import { createSupervisor } from 'ws-supervisor';
import { createClient } from 'ws-supervisor/client';
import { SimulatedClock } from 'xstate';

const tokenMs = 15 * 60_000; // a token lasts 15 minutes

// Under both refusals: a server for browsers refuses with `refuse: 'close'`, which opens the socket
// before its 4401, so the listener's guard is reset by the closes between, not by `open`.
const refusals = ['http', 'close'] as const;
it.each(refusals)('refreshes a token after a 4002, and once after a 4401 (refuse: %s)', async (refuse) => {
  const clock = new SimulatedClock();
  // The wall clock, moved on by the test's simulated time: tokens expire on it.
  const now = () => Date.now() + clock.now();
  let revoked = false; // the user signed out elsewhere: no token is accepted
  let down = 0; // the token service fails this many of the next calls
  const minted: string[] = [];
  /** The token service: `ann.<exp>`, ending tokenMs from now (a real app fetches a JWT). */
  const refreshToken = async () => {
    if (down > 0) {
      down -= 1;
      throw new Error('token service unavailable');
    }
    const token = `ann.${now() + tokenMs}`;
    minted.push(token);
    return token;
  };
  const supervisor = createSupervisor({
    preset: 'production',
    clock,
    refuse,
    // The first heartbeat after an admission finds its token over (the session closed with 4002).
    heartbeatIntervalMs: tokenMs,
    idleTimeoutMs: 4 * tokenMs,
    authenticate: (request) => {
      const token = new URL(request.url ?? '/', 'http://localhost').searchParams.get('token') ?? '';
      const [userId = '', exp = ''] = token.split('.');
      // An expired token is refused as any bad one: HTTP 401, which ws's client reads as 4401
      // (with refuse: 'close', the socket opens and closes with 4401).
      if (revoked || userId !== 'ann' || !(Number(exp) > now())) return null;
      // expiresAt is on the real wall clock (Date.now()): the supervisor counts it down on its own.
      return { userId, expiresAt: Number(exp) - clock.now() };
    },
  });
  const server = createServer();
  supervisor.attach(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  onTestFinished(async () => {
    const stopped = supervisor.shutdown();
    clock.increment(supervisor.options.drainTimeoutMs);
    await stopped;
    await new Promise((resolve) => server.close(resolve));
  });
  const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const loadToken = () => `ann.${now() - 1}`; // the cached token, expired while the page was closed
  const expiresAtOf = (jwt: string) => Number(jwt.split('.')[1]); // a JWT's exp × 1000 in an app
  let signIns = 0;
  const showSignIn = () => {
    signIns += 1;
  };

  // #region token-refresh
  let token = loadToken(); // the cached token (a page reload: it may have expired meanwhile)
  let stale = false; // a 4002 said the token ran out: refresh it before the next attempt
  const client = createClient({
    // Called before every attempt, the first time inside createClient() (so `stale` is declared
    // above it). The token's own expiry, 30 s early (expiresAtOf: a JWT's exp × 1000; now():
    // Date.now() in an app), catches what no 4002 says: after a long sleep or backgrounding the
    // close is a 1006. `stale` catches a server whose clock is ahead of the device's, and stays
    // set until a refresh succeeds: an attempt that failed in between (offline, the token
    // service down) must not send the expired token.
    url: async () => {
      if (stale || expiresAtOf(token) - now() < 30_000) {
        token = await refreshToken();
        stale = false;
      }
      return `${url}?token=${encodeURIComponent(token)}`;
    },
    WebSocket, // ws's (Node 20 has no global one): it reads an HTTP 401 as 4401
    clock, // a test's SimulatedClock (leave it out in an app)
  });
  // A 4401 (the token refused all the same) waits for resume(). Refresh and resume once; refused
  // again before any other close, a fresh token did not help (signed out): no loop, sign in.
  let refreshed = false;
  client.on('close', ({ kind }) => {
    if (kind === 'session-expired') stale = true; // 4002: the session's token ran out
    if (kind !== 'unauthenticated') {
      refreshed = false; // not 'open': a server with refuse: 'close' opens before its 4401
      return;
    }
    if (refreshed) return showSignIn();
    refreshed = true;
    refreshToken().then((fresh) => {
      token = fresh;
      client.resume();
    }, showSignIn);
  });
  // #endregion token-refresh
  // The client ends `suspended` (no socket), or the supervisor answers its 1000: `closed` resolves
  // without the SimulatedClock moving (a server that never answered would need `clock` moved).
  onTestFinished(() => {
    client.close();
    return client.closed;
  });
  const signal = AbortSignal.timeout(10_000);
  const admitted = (who: string) => supervisor.once('admitted', { matches: ({ userId }) => userId === who });
  const closes: number[] = [];
  client.on('close', ({ code }) => closes.push(code));

  // The cached token had expired: refreshed before the first attempt, never sent (no 4401).
  const { url: first } = await client.once('open', { signal });
  expect(first).toContain(`token=${encodeURIComponent(minted[0] ?? '')}`);
  expect(supervisor.userStats('ann')).toMatchObject({ live: 1 });
  expect(closes).toEqual([]);

  // The session runs out (4002): the client reconnects at once, the url function refreshing.
  const again = admitted('ann');
  const reconnecting = client.once('reconnecting', { signal });
  clock.increment(tokenMs); // the heartbeat finds the token over; the client was stable long since
  // At once (on the simulated clock: moved below), and no failure counted.
  expect(await reconnecting).toEqual({ delayMs: 0, attempt: 0 });
  expect(client.lastClose).toMatchObject({ code: 4002, kind: 'session-expired' });
  clock.increment(0);
  const { url: second } = await client.once('open', { signal });
  await again;
  expect(minted).toHaveLength(2);
  expect(second).toContain(`token=${encodeURIComponent(minted[1] ?? '')}`);
  expect(closes).toEqual([4002]); // no 4401 after the 4002: the expired token was not sent

  // The token service fails the next refresh: that attempt fails (1006, backed off), and the
  // token stays stale, so the next attempt refreshes it again instead of sending the expired
  // one (which lastClose, the 1006 now, no longer tells).
  down = 1;
  const failed = client.once('reconnecting', { signal, matches: ({ attempt }) => attempt === 1 });
  const refreshedAgain = admitted('ann');
  clock.increment(tokenMs);
  await client.once('reconnecting', { signal });
  clock.increment(0); // the url function's refresh rejects
  const { delayMs } = await failed;
  expect(client.lastClose).toMatchObject({ code: 1006, opened: false });
  clock.increment(delayMs);
  const { url: third } = await client.once('open', { signal });
  await refreshedAgain;
  expect(minted).toHaveLength(3);
  expect(third).toContain(`token=${encodeURIComponent(minted[2] ?? '')}`);
  expect(closes).toEqual([4002, 4002, 1006]); // and no 4401

  // A phone backgrounded past the token's life: its socket dies without a close frame (1006, no
  // 4002), and the client's next attempt comes after the token expired. The url function sees
  // the token's own expiry and refreshes: the expired token is not sent (no 4401).
  clock.increment(5_000); // stable: the drop below counts from the first backoff step
  const dropped = client.once('reconnecting', { signal });
  const backAfterSleep = admitted('ann');
  for (const connection of supervisor.connectionsOf('ann')) connection.socket?.terminate();
  await dropped;
  expect(client.lastClose).toMatchObject({ code: 1006 });
  clock.increment(tokenMs); // the app wakes a token's life later; the backoff's wait is long over
  const { url: fourth } = await client.once('open', { signal });
  await backAfterSleep;
  expect(minted).toHaveLength(4);
  expect(fourth).toContain(`token=${encodeURIComponent(minted[3] ?? '')}`);
  expect(closes).toEqual([4002, 4002, 1006, 1006]); // and no 4401

  // Signed out elsewhere: every token is refused. The next 4002's refresh gets 4401; the
  // listener refreshes and resumes once; the second 4401 asks for a sign-in, and nothing loops.
  revoked = true;
  // (or a loop: a token minted past the two refreshes, failed at once below, not at the timeout)
  const signedOut = client.once('state', { signal, matches: () => signIns === 1 || minted.length > 6 });
  clock.increment(tokenMs);
  await client.once('reconnecting', { signal });
  clock.increment(0);
  await signedOut;
  expect(client.state).toBe('suspended');
  expect(minted).toHaveLength(6); // 4002's refresh, then the 4401's one
  expect(closes).toEqual([4002, 4002, 1006, 1006, 4002, 4401, 4401]);
  clock.increment(24 * 3_600_000); // nothing is scheduled: suspended until the user signs in
  expect([client.state, signIns, minted.length]).toEqual(['suspended', 1, 6]);
});
