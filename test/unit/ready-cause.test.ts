/**
 * ready({ signal }) ended by its signal: which reasons get the store's last failure as their
 * cause (a new DOMException named TimeoutError or AbortError, while no lease was ever held),
 * and which come back exactly as the app gave them (review of the edges merge).
 */
import { describe, expect, it } from 'vitest';
import { SupervisorError } from '../../src/errors.js';
import { Readiness } from '../../src/ready.js';

const refused = new SupervisorError('WSSUP_STORE_UNAVAILABLE', 'connect ECONNREFUSED 127.0.0.1:1');

const rejection = (promise: Promise<void>) =>
  promise.then(
    () => expect.unreachable('ready() resolved'),
    (error: unknown) => error,
  );

describe('ready() ended by its signal after a failed start of the store', () => {
  it.each([
    ['TimeoutError', new DOMException('gave up', 'TimeoutError')],
    ['AbortError', new DOMException('stop', 'AbortError')],
  ])(
    'a DOMException named %s: a new one of that name and message, the failure its cause',
    async (name, reason) => {
      const readiness = new Readiness(false);
      readiness.failed(refused);
      const error = (await rejection(readiness.wait({ signal: AbortSignal.abort(reason) }))) as DOMException;
      expect(error).not.toBe(reason);
      expect(error).toBeInstanceOf(DOMException);
      expect(error).toMatchObject({ name, message: reason.message, cause: refused });
      expect(Object.hasOwn(reason, 'cause')).toBe(false);
    },
  );

  it("a DOMException of another name (the app's own) comes back as it is, extra properties and all", async () => {
    const readiness = new Readiness(false);
    readiness.failed(refused);
    const reason = Object.assign(new DOMException('not now', 'NotAllowedError'), { tag: 'deploy-42' });
    expect(await rejection(readiness.wait({ signal: AbortSignal.abort(reason) }))).toBe(reason);
    expect(Object.hasOwn(reason, 'cause')).toBe(false);
  });

  it('once the first lease is held, an aborted signal gets its reason as it is: no stale "why there is no lease"', async () => {
    const readiness = new Readiness(false);
    readiness.failed(refused);
    readiness.reached();
    const reason = new DOMException('gave up', 'TimeoutError');
    expect(await rejection(readiness.wait({ signal: AbortSignal.abort(reason) }))).toBe(reason);
  });
});
