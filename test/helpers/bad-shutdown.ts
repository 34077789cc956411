import { expect } from 'vitest';
import type WebSocket from 'ws';
import { SupervisorError } from '../../src/index.js';
import { closeOf, type OwnServer } from './rules.js';

/** The end of a bad shutdown() call's message when that call began the shutdown. */
export const shutDownWithDefaults = /; shut down instead with no pace and deadlineMs \d+$/;

/**
 * A first shutdown() call with bad options (newcomer trial: a shutdown asked for must happen):
 * it never throws, it shuts down with the defaults (unpaced: 1001 to `ws` at once, the plain
 * reason), and it rejects with WSSUP_INVALID_ARGUMENT once that shutdown has ended, its message
 * saying so. Resolves to the error.
 */
export async function expectShutDownWithDefaults(
  t: OwnServer,
  call: () => Promise<void>,
  ws: WebSocket,
): Promise<SupervisorError> {
  const closing = closeOf(ws);
  const settled = call().then(
    () => {
      throw new Error('a bad shutdown() call resolved');
    },
    (error: unknown) => error,
  );
  expect(t.supervisor.stats().admission).toEqual({ admitting: false, reason: 'shutting-down' });
  expect(await closing).toEqual({ code: 1001, reason: 'server shutting down' });
  const error = await settled;
  expect(error).toBeInstanceOf(SupervisorError);
  expect(error).toMatchObject({
    code: 'WSSUP_INVALID_ARGUMENT',
    message: expect.stringMatching(shutDownWithDefaults),
  });
  // Rejected once the shutdown had ended: nothing is left.
  expect(t.supervisor.stats().connections).toBe(0);
  return error as SupervisorError;
}
