/**
 * once()'s waits own their listener: it is gone once the wait settles, whichever way
 * (taken, matches throwing or answering no boolean, aborted, the emitter's end), as the
 * emitter's own listener count shows. The integration tests (test/integration/once.test.ts,
 * test/client/once.test.ts) show the same by behaviour, on real sockets.
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
  const once = (matches?: unknown, options?: unknown) =>
    waiters.wait('admitted', (listener) => events.on('admitted', listener), matches, options);
  return { events, waiters, once, reported };
}

describe('EventWaiters', () => {
  it('leaves no listener after a wait settles, whichever way', async () => {
    const { events, waiters, once, reported } = setup();
    const controller = new AbortController();
    const taken = once((event: { userId: string }) => event.userId === 'b');
    const thrown = once(() => {
      throw new Error('no');
    });
    const listener = once(() => undefined);
    const aborted = once(undefined, { signal: controller.signal });
    const ended = once(() => false);
    expect([events.listenerCount(), waiters.size]).toEqual([5, 5]);
    controller.abort('stop');
    events.emit('admitted', admitted('a'));
    expect([events.listenerCount(), waiters.size]).toEqual([2, 2]);
    events.emit('admitted', admitted('b'));
    expect(await taken).toMatchObject({ userId: 'b' });
    waiters.close(new SupervisorError('WSSUP_SHUTTING_DOWN', 'gone'));
    expect([events.listenerCount(), waiters.size]).toEqual([0, 0]);
    await expect(thrown).rejects.toThrow('no');
    await expect(listener).rejects.toMatchObject({ code: 'WSSUP_INVALID_ARGUMENT' });
    await expect(aborted).rejects.toBe('stop');
    await expect(ended).rejects.toMatchObject({ code: 'WSSUP_SHUTTING_DOWN' });
    // A wait after the end rejects at once and keeps nothing.
    await expect(once()).rejects.toMatchObject({ code: 'WSSUP_SHUTTING_DOWN' });
    expect([events.listenerCount(), waiters.size]).toEqual([0, 0]);
    expect(reported).toEqual([]);
  });

  it('keeps nothing when its arguments throw', () => {
    const { events, waiters, once } = setup();
    expect(() => once('x')).toThrow(expect.objectContaining({ code: 'WSSUP_INVALID_ARGUMENT' }));
    expect(() => once(undefined, { signal: 1 })).toThrow(
      expect.objectContaining({ code: 'WSSUP_INVALID_ARGUMENT' }),
    );
    expect(() =>
      waiters.wait('nope', (listener) => events.on('nope' as never, listener), undefined, undefined),
    ).toThrow(expect.objectContaining({ code: 'WSSUP_INVALID_ARGUMENT' }));
    expect([events.listenerCount(), waiters.size]).toEqual([0, 0]);
  });
});
