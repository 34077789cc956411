/**
 * A client that sends its close frame and then keeps the TCP connection open
 * (it never sends its FIN). From the WebSocket's point of view the connection
 * is over: the slot must be free at once, so the user can reconnect up to the
 * whole limit straight away, and the socket must be gone by drainTimeoutMs.
 * ws alone keeps such a socket for 30 s (its own close timer), with the slot
 * still counted as live.
 */
import { expect, it } from 'vitest';
import {
  type Attempt,
  attempt,
  clientFrame,
  closePayload,
  expectLeakFree,
  ioDeadlineMs,
  Opcode,
  serverFrames,
  startTarget,
  until,
  within,
} from '../helpers/adversary.js';
import { connectionCount, rawWebSocket } from '../helpers/cleanup.js';
import { drainTimeoutMs, limit, nextEvent } from '../helpers/rules.js';

const kind = (outcome: Attempt) => ('opened' in outcome ? 'opened' : outcome);

it('a close frame with the TCP connection kept open frees the slot at once and the socket by drainTimeoutMs', async () => {
  const t = await startTarget({ supervisor: { drainTimeoutMs } });
  const socket = await rawWebSocket(t.port, 'zoe', { allowHalfOpen: true });
  const [admitted] = t.events.admitted;
  if (admitted === undefined) throw new Error('the raw client was not admitted');
  const disposed = nextEvent(
    t.supervisor,
    'disposed',
    (event) => event.connectionId === admitted.connectionId,
  );
  const frames = serverFrames(socket);

  socket.write(clientFrame(Opcode.close, closePayload(1000, 'bye')));
  // ws answers the close handshake: from here the connection carries nothing more.
  expect(await within(frames.closeCode(), ioDeadlineMs, 'the server to answer the close frame')).toBe(1000);

  await until(
    () => (t.supervisor.userStats('zoe')?.live ?? 0) === 0,
    "zoe's slot to be freed after her close frame",
    {
      timeoutMs: ioDeadlineMs,
      detail: () => t.supervisor.userStats('zoe'),
    },
  );
  // The user gets her whole limit back at once, with the old socket still around.
  const again = await Promise.all(Array.from({ length: limit }, () => attempt(t.url('zoe'))));
  expect(again.map(kind)).toEqual(Array(limit).fill('opened'));

  // And the old socket is gone once drainTimeoutMs has passed (on the injected clock).
  t.clock.increment(drainTimeoutMs);
  await within(disposed, ioDeadlineMs, 'the half-closed connection to be disposed at drainTimeoutMs');
  await until(
    async () => (await connectionCount(t.server)) === limit,
    'the half-closed TCP connection to be destroyed',
    {
      timeoutMs: ioDeadlineMs,
    },
  );

  for (const outcome of again) if ('opened' in outcome) outcome.opened.close();
  await expectLeakFree(t.supervisor);
  expect(t.errors).toEqual([]);
});
