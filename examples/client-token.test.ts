/**
 * ws-supervisor/client with a token that expires: the `url` function refreshes the cached token
 * after a 4002 (the session ran out), and a `close` listener refreshes it and calls `resume()`
 * once after a 4401 (an expired token refused), never in a loop. The README's "Client" quotes
 * the region below (test/examples/readme-snippets.test.ts); vitest runs it against a real server
 * whose `authenticate` refuses expired tokens, the server and the client on one SimulatedClock.
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

it('refreshes an expired token after a 4002 and, once, after a 4401', async () => {
  const clock = new SimulatedClock();
  // The wall clock, moved on by the test's simulated time: tokens expire on it.
  const now = () => Date.now() + clock.now();
  let revoked = false; // the user signed out elsewhere: no token is accepted
  const minted: string[] = [];
  /** The token service: `ann.<exp>`, ending tokenMs from now (a real app fetches a JWT). */
  const refreshToken = async () => {
    const token = `ann.${now() + tokenMs}`;
    minted.push(token);
    return token;
  };
  const supervisor = createSupervisor({
    preset: 'production',
    clock,
    // The first heartbeat after an admission finds its token over (the session closed with 4002).
    heartbeatIntervalMs: tokenMs,
    idleTimeoutMs: 4 * tokenMs,
    authenticate: (request) => {
      const token = new URL(request.url ?? '/', 'http://localhost').searchParams.get('token') ?? '';
      const [userId = '', exp = ''] = token.split('.');
      // An expired token is refused as any bad one: HTTP 401, which the client reads as 4401.
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
  let signIns = 0;
  const showSignIn = () => {
    signIns += 1;
  };

  // #region token-refresh
  let token = loadToken(); // the cached token (a page reload: it may have expired meanwhile)
  const client = createClient({
    // Called before every attempt with { attempt, lastClose }. The first call comes inside
    // createClient(), before `client` is assigned: read the last close from the argument.
    url: async ({ lastClose }) => {
      // 4002: the session's token ran out, so the cached one would be refused (4401).
      if (lastClose?.kind === 'session-expired') token = await refreshToken();
      return `${url}?token=${encodeURIComponent(token)}`;
    },
    WebSocket, // ws's (Node 20 has no global one): it reads an HTTP 401 as 4401
    clock, // a test's SimulatedClock (leave it out in an app)
  });
  // A 4401 (the token refused: expired) waits for resume(). Refresh and resume once; refused
  // again before any other close, a fresh token did not help (signed out): no loop, sign in.
  let refreshed = false;
  client.on('close', ({ kind }) => {
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
  onTestFinished(() => client.close());
  const signal = AbortSignal.timeout(10_000);
  const admitted = (who: string) => supervisor.once('admitted', { matches: ({ userId }) => userId === who });

  // The cached token had expired: 4401, a refresh, resume(), and the fresh token is admitted.
  expect(await client.once('close', { signal })).toMatchObject({ code: 4401, kind: 'unauthenticated' });
  const { url: first } = await client.once('open', { signal });
  expect(first).toContain(`token=${encodeURIComponent(minted[0] ?? '')}`);
  expect(supervisor.userStats('ann')).toMatchObject({ live: 1 });

  // The session runs out (4002): the client reconnects at once, the url function refreshing.
  const again = admitted('ann');
  const reconnecting = client.once('reconnecting', { signal });
  clock.increment(tokenMs); // the heartbeat finds the token over; the client was stable long since
  await reconnecting; // its delay is 0 ms, on the simulated clock: moved below
  expect(client.lastClose).toMatchObject({ code: 4002, kind: 'session-expired' });
  clock.increment(0);
  const { url: second } = await client.once('open', { signal });
  await again;
  expect(minted).toHaveLength(2);
  expect(second).toContain(`token=${encodeURIComponent(minted[1] ?? '')}`);
  expect(client.lastClose).toMatchObject({ code: 4002 }); // no 4401 between: the cached token was not sent

  // Signed out elsewhere: every token is refused. The next 4002's refresh gets 4401; the
  // listener refreshes and resumes once; the second 4401 asks for a sign-in, and nothing loops.
  revoked = true;
  const signedOut = client.once('state', { signal, matches: () => signIns === 1 });
  clock.increment(tokenMs);
  await client.once('reconnecting', { signal });
  clock.increment(0);
  await signedOut;
  expect(client.state).toBe('suspended');
  expect(minted).toHaveLength(4); // 4002's refresh, then the 4401's one
  clock.increment(24 * 3_600_000); // nothing is scheduled: suspended until the user signs in
  expect([client.state, signIns, minted.length]).toEqual(['suspended', 1, 4]);
});
