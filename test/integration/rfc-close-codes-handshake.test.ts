/**
 * The RFC 6455 codes an app may close with besides 1000 (1003 unsupported data, 1007 data
 * inconsistent with its type, 1008 a policy violation), on a connection closed from its
 * `admitted` listener, before its handshake finished: over HTTP (`refuse: 'http'`) the client
 * gets a 403 with the app's reason as the body, as for any code that is no 4000 + a status; with
 * `refuse: 'close'` it reads the app's code and reason.
 */
import { describe, expect, it, vi } from 'vitest';
import { closeRefusal, httpRefusal } from '../helpers/refusals.js';
import { startRulesServer } from '../helpers/rules.js';
import { expectNoLeaks, ioWait } from '../helpers/server.js';

describe('a connection closed from its admitted listener with 1003, 1007 or 1008', () => {
  it.each([
    ['http', 1003, 'binary only'],
    ['http', 1007, 'not UTF-8'],
    ['http', 1008, 'policy violation'],
    ['close', 1003, 'binary only'],
    ['close', 1007, 'not UTF-8'],
    ['close', 1008, 'policy violation'],
  ] as const)(
    'refuse: %j, code %i: the client reads the app’s refusal, and nothing is left',
    async (refuse, code, reason) => {
      const t = await startRulesServer({ refuse });
      t.supervisor.on('admitted', ({ connectionId }) =>
        t.supervisor.connection(connectionId)?.close(code, reason),
      );
      if (refuse === 'http') {
        expect(await httpRefusal(t.url('kim'))).toMatchObject({ status: 403, body: `${reason}\n` });
        expect(t.events.disposed).toMatchObject([{ userId: 'kim', reason: 'app-close', httpStatus: 403 }]);
      } else {
        expect(await closeRefusal(t.url('kim'))).toEqual({ code, reason, retryAfter: undefined });
        expect(t.events.disposed).toMatchObject([{ userId: 'kim', reason: 'app-close' }]);
      }
      await vi.waitFor(() => expect(t.supervisor.stats().resources.closeRefusals).toBe(0), ioWait);
      expectNoLeaks(t.supervisor);
    },
  );
});
