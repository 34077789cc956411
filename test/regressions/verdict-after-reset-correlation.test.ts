/**
 * A verdict that `authenticate` returns with its signal not aborted ends in exactly one
 * `admitted` or `rejected` event carrying its correlationId: an app that reserves something
 * of its own at the verdict (a per-address slot, README "A second limit: per network
 * address") releases it by that id. A client's reset destroys the server's socket at once,
 * but Node emits its 'close' (which aborts the signal) only once the handle has closed, a
 * turn of the event loop later. A verdict that came in between was refused as
 * `socket-closed` without its correlationId: the app's reservation leaked (a new-user trial's
 * per-IP slots, repro 11). Real sockets on port 0.
 */
import type { IncomingMessage } from 'node:http';
import { expect, it, vi } from 'vitest';
import type { AuthenticateContext, AuthResult, RejectedEvent } from '../../src/index.js';
import { askAuthenticate } from '../helpers/cleanup.js';
import { expectNoLeaks, startServer } from '../helpers/server.js';

interface Call {
  request: IncomingMessage;
  context: AuthenticateContext;
  resolve: (verdict: AuthResult) => void;
}

/** A server whose authenticate answers only when the test resolves its call, and its refusals. */
async function serverWithPendingAuthenticate() {
  const calls: Call[] = [];
  const t = await startServer({
    authenticateTimeoutMs: 3_000,
    authenticate: (request, context) =>
      new Promise<AuthResult>((resolve) => calls.push({ request, context, resolve })),
  });
  const rejected: RejectedEvent[] = [];
  t.supervisor.on('rejected', (event) => rejected.push(event));
  return { calls, t, rejected };
}

it('a verdict that comes after the reset, before the socket closes, is refused with its correlationId', async () => {
  const { calls, t, rejected } = await serverWithPendingAuthenticate();
  const socket = await askAuthenticate(t.port, calls, 'ann');
  const call = calls[0] as Call;
  let aborted: boolean | undefined;
  // The app's lookup answers in the window: the server's socket is destroyed (its 'error'
  // comes on the next tick), its 'close' is still to come. The app checks the signal, as
  // the README says, and reserves.
  call.request.socket.once('error', () => {
    aborted = call.context.signal.aborted;
    call.resolve({ userId: 'ann', correlationId: 'slot-1' });
  });
  socket.resetAndDestroy();
  await vi.waitFor(() => expect(rejected).toHaveLength(1));
  expect(aborted).toBe(false);
  expect(rejected[0]).toMatchObject({ reason: 'socket-closed', correlationId: 'slot-1' });
  await vi.waitFor(() => expect(t.supervisor.stats().resources?.authenticating ?? 0).toBe(0));
  expectNoLeaks(t.supervisor);
});

it('a verdict whose authenticate settled just before a shutdown is refused 503 with its correlationId, its signal not aborted', async () => {
  const { calls, t, rejected } = await serverWithPendingAuthenticate();
  await askAuthenticate(t.port, calls, 'ann');
  const call = calls[0] as Call;
  call.resolve({ userId: 'ann', correlationId: 'slot-2' }); // the app checked the signal and reserved
  await Promise.resolve(); // the verdict settled; the upgrade's continuation has not run
  const stopping = t.supervisor.shutdown({ deadlineMs: 200 });
  await vi.waitFor(() => expect(rejected).toHaveLength(1));
  expect(call.context.signal.aborted).toBe(false);
  expect(rejected[0]).toMatchObject({ reason: 'shutting-down', correlationId: 'slot-2' });
  await stopping;
});
