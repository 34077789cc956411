/**
 * once()'s waits own their listener: it is gone once the wait settles, whichever way
 * (taken, matches throwing or answering no boolean, aborted, the emitter's end), as the
 * emitter's own listener count shows. Bad arguments throw at the call, before anything
 * waits: a listener where `{ matches?, signal? }` goes among them, so that Node's
 * `events.once(emitter, name)` rejects its own promise with that error. The integration
 * tests (test/integration/once.test.ts, test/client/once.test.ts) show the same by
 * behaviour, on real sockets.
 */
import { describe, expect, it } from 'vitest';
import { SupervisorError } from '../../src/errors.js';
import { EventWaiters } from '../../src/event-waiters.js';
import { SupervisorEvents } from '../../src/events.js';

const admitted = (userId: string) => ({ connectionId: `c-${userId}`, userId, correlationId: undefined });

function setup() {
  const reported: SupervisorError[] = [];
  const events = new SupervisorEvents((error) => reported.push(error));
  const waiters = new EventWaiters('supervisor');
  const once = (...args: unknown[]) =>
    waiters.wait('admitted', (listener) => events.on('admitted', listener), args);
  return { events, waiters, once, reported };
}

const invalid = (message: string) =>
  expect.objectContaining({ code: 'WSSUP_INVALID_ARGUMENT', message: expect.stringContaining(message) });

describe('EventWaiters', () => {
  it('leaves no listener after a wait settles, whichever way', async () => {
    const { events, waiters, once, reported } = setup();
    const controller = new AbortController();
    const taken = once({ matches: (event: { userId: string }) => event.userId === 'b' });
    const thrown = once({
      matches: () => {
        throw new Error('no');
      },
    });
    const noReturn = once({ matches: () => undefined });
    const aborted = once({ signal: controller.signal });
    const ended = once({ matches: () => false, signal: undefined });
    expect([events.listenerCount(), waiters.size]).toEqual([5, 5]);
    controller.abort('stop');
    events.emit('admitted', admitted('a'));
    expect([events.listenerCount(), waiters.size]).toEqual([2, 2]);
    events.emit('admitted', admitted('b'));
    expect(await taken).toMatchObject({ userId: 'b' });
    waiters.close(new SupervisorError('WSSUP_SHUTTING_DOWN', 'gone'));
    expect([events.listenerCount(), waiters.size]).toEqual([0, 0]);
    await expect(thrown).rejects.toThrow('no');
    await expect(noReturn).rejects.toMatchObject({
      code: 'WSSUP_INVALID_ARGUMENT',
      message: expect.stringContaining('matches must return true or false, got undefined'),
    });
    await expect(aborted).rejects.toBe('stop');
    await expect(ended).rejects.toMatchObject({ code: 'WSSUP_SHUTTING_DOWN' });
    // A wait after the end rejects at once and keeps nothing.
    await expect(once()).rejects.toMatchObject({ code: 'WSSUP_SHUTTING_DOWN' });
    expect([events.listenerCount(), waiters.size]).toEqual([0, 0]);
    expect(reported).toEqual([]);
  });

  it('throws at the call for a listener in place of its options, saying that once() returns a promise', () => {
    const { events, waiters, once } = setup();
    expect(() => once(() => {})).toThrow(
      invalid(
        "supervisor.once('admitted') returns a promise and takes no listener: `await supervisor.once('admitted')`; to filter, pass { matches }",
      ),
    );
    expect([events.listenerCount(), waiters.size]).toEqual([0, 0]);
  });

  it('keeps nothing when its arguments throw', () => {
    const { events, waiters, once } = setup();
    class Options {
      signal = undefined;
    }
    const bad: [unknown[], string][] = [
      [['x'], 'options must be an object { matches?, signal? }, got'],
      [[null], 'options must be an object { matches?, signal? }, got null'],
      [[[]], 'options must be an object { matches?, signal? }'],
      [[new Options()], 'options must be an object { matches?, signal? }'],
      [[{ timeout: 5 }], 'unknown key timeout, expected matches or signal'],
      [[{ matches: 'alice' }], 'matches must be a function (event) => boolean'],
      [[{ signal: 1 }], 'signal must be an AbortSignal, got 1'],
      [[undefined, { signal: AbortSignal.abort() }], 'takes (name, { matches?, signal? }): got 3 arguments'],
    ];
    for (const [args, message] of bad) expect(() => once(...args)).toThrow(invalid(message));
    expect(() => waiters.wait('nope', (listener) => events.on('nope' as never, listener), [])).toThrow(
      expect.objectContaining({ code: 'WSSUP_INVALID_ARGUMENT' }),
    );
    expect([events.listenerCount(), waiters.size]).toEqual([0, 0]);
  });

  it('rejects, and keeps nothing, when matches answers a promise (an async matches)', async () => {
    const { events, waiters, once } = setup();
    const asAsync = once({ matches: async () => true });
    events.emit('admitted', admitted('a'));
    await expect(asAsync).rejects.toMatchObject({
      code: 'WSSUP_INVALID_ARGUMENT',
      message: expect.stringContaining('it must be synchronous'),
    });
    expect([events.listenerCount(), waiters.size]).toEqual([0, 0]);
  });
});
