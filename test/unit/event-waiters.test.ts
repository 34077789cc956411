/**
 * once()'s waits own their listener: it is gone once the wait settles, whichever way
 * (taken, matches throwing or answering no boolean, aborted, the emitter's end), as the
 * emitter's own listener count shows. Bad arguments throw at the call, before anything
 * waits: a listener where `{ matches?, signal? }` goes among them, so that Node's
 * `events.once(emitter, name)` rejects its own promise with that error. The integration
 * tests (test/integration/once.test.ts, test/client/once.test.ts) show the same by
 * behaviour, on real sockets.
 */
import { setImmediate as turn } from 'node:timers/promises';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { SupervisorError } from '../../src/errors.js';
import { EventWaiters } from '../../src/event-waiters.js';
import { SupervisorEvents } from '../../src/events.js';
import { recordUnhandledRejections } from '../helpers/unhandled-rejections.js';

const admitted = (userId: string) => ({ connectionId: `c-${userId}`, userId, correlationId: undefined });

function setup() {
  const reported: SupervisorError[] = [];
  const events = new SupervisorEvents((error) => reported.push(error));
  const waiters = new EventWaiters('supervisor');
  const once = (...args: unknown[]) =>
    waiters.wait('admitted', (listener) => events.on('admitted', listener), args);
  return { events, waiters, once, reported };
}

/**
 * An AbortSignal by shape (as a polyfill's, or another realm's), counting the abort listeners it
 * holds; abort() calls them as a polyfill does, with whatever `reason` it is given (undefined too).
 */
function countingSignal() {
  const listeners = new Set<() => void>();
  let added = 0;
  const signal = {
    aborted: false,
    reason: undefined as unknown,
    addEventListener(type: string, listener: () => void) {
      if (type !== 'abort') return;
      added += 1;
      listeners.add(listener);
    },
    removeEventListener(type: string, listener: () => void) {
      if (type === 'abort') listeners.delete(listener);
    },
    abort(reason?: unknown) {
      signal.aborted = true;
      signal.reason = reason;
      for (const listener of [...listeners]) listener();
    },
  };
  return { signal, held: () => listeners.size, added: () => added };
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
    const controller = new AbortController();
    const plain = 'options must be a plain object { matches?, signal? }, got';
    const bad: [unknown[], string][] = [
      [['x'], `${plain} "x"`],
      [[null], `${plain} null`],
      [[[]], `${plain} an array`],
      // Objects with no own keys to refuse: each was read as {}, a signal among them never aborted the wait.
      [[controller.signal], `${plain} an AbortSignal: to stop the wait with this signal, pass { signal }`],
      [[controller], `${plain} an AbortController: pass { signal: controller.signal }`],
      [[new Options()], `${plain} an Options: write the options as an object literal`],
      [[new Map()], `${plain} a Map`],
      [[runInNewContext('new Map()')], `${plain} a Map`],
      [[Promise.resolve({ matches: () => true })], `${plain} a Promise`],
      [[new Date()], `${plain} a Date`],
      [[Math], `${plain} an object`],
      [[{ [Symbol.toStringTag]: 'Options' }], `${plain} an object`],
      [[new Options(), 'x'], 'got 3 arguments'],
      [[runInNewContext('({ timeout: 5 })')], 'unknown key timeout, expected matches or signal'],
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

  it('removes its abort listener from the signal when it settles, whichever way', async () => {
    const { events, waiters, once } = setup();
    const signals = [countingSignal(), countingSignal(), countingSignal()];
    const [taken, thrown, ended] = signals;
    if (taken === undefined || thrown === undefined || ended === undefined) throw new Error('unreachable');
    const resolved = once({ signal: taken.signal });
    const rejected = once({
      matches: () => {
        throw new Error('no');
      },
      signal: thrown.signal,
    });
    events.emit('admitted', admitted('a'));
    expect(await resolved).toMatchObject({ userId: 'a' });
    await expect(rejected).rejects.toThrow('no');
    const closing = once({ signal: ended.signal });
    expect(ended.held()).toBe(1);
    waiters.close(new SupervisorError('WSSUP_SHUTTING_DOWN', 'gone'));
    await expect(closing).rejects.toMatchObject({ code: 'WSSUP_SHUTTING_DOWN' });
    expect(signals.map((counting) => [counting.added(), counting.held()])).toEqual([
      [1, 0],
      [1, 0],
      [1, 0],
    ]);
    expect([events.listenerCount(), waiters.size]).toEqual([0, 0]);
  });

  it("rejects with an Error named AbortError when the signal's reason is undefined (a polyfill's)", async () => {
    const { events, waiters, once } = setup();
    const later = countingSignal();
    const waiting = once({ signal: later.signal });
    later.signal.abort();
    const error = await waiting.catch((reason: unknown) => reason);
    expect(error).toBeInstanceOf(Error);
    // Node's own AbortError (events.once(), abort()) carries code ABORT_ERR: apps match on it.
    expect(error).toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });
    const before = countingSignal();
    before.signal.abort();
    await expect(once({ signal: before.signal })).rejects.toMatchObject({
      name: 'AbortError',
      code: 'ABORT_ERR',
    });
    expect([later.held(), before.added(), events.listenerCount(), waiters.size]).toEqual([0, 0, 0, 0]);
  });

  it('takes a plain object as { matches?, signal? }: an object literal from another realm, or with no prototype', async () => {
    const { events, waiters, once } = setup();
    const foreign = once(runInNewContext('({})'));
    const withMatches: { matches?: unknown } = runInNewContext('({})');
    withMatches.matches = (event: { userId: string }) => event.userId === 'b';
    const matching = once(withMatches);
    const bare = once(Object.assign(Object.create(null) as object, { signal: undefined }));
    events.emit('admitted', admitted('a'));
    events.emit('admitted', admitted('b'));
    expect(await Promise.all([foreign, matching, bare])).toMatchObject([
      { userId: 'a' },
      { userId: 'b' },
      { userId: 'a' },
    ]);
    expect([events.listenerCount(), waiters.size]).toEqual([0, 0]);
  });

  it('throws naming the signal, and keeps nothing, when its addEventListener throws: nothing rejects unhandled at the end', async () => {
    const unhandled = recordUnhandledRejections();
    const { events, waiters, once } = setup();
    // Refuses at once; adds, then throws; calls the listener (aborting), then throws.
    const kinds = ['refuses', 'adds', 'aborts'] as const;
    const signals = kinds.map((kind) => {
      const counting = countingSignal();
      const add = counting.signal.addEventListener;
      counting.signal.addEventListener = (type: string, listener: () => void) => {
        if (kind !== 'refuses') add(type, listener);
        if (kind === 'aborts') counting.signal.abort(new Error('aborted while adding'));
        throw new TypeError('not this signal');
      };
      return counting;
    });
    for (const counting of signals) {
      expect(() => once({ signal: counting.signal })).toThrow(
        expect.objectContaining({
          code: 'WSSUP_INVALID_ARGUMENT',
          message:
            "supervisor.once('admitted') options: signal.addEventListener('abort') threw a TypeError: signal must be an AbortSignal",
          cause: expect.objectContaining({ message: 'not this signal' }),
        }),
      );
    }
    expect([events.listenerCount(), waiters.size, ...signals.map((counting) => counting.held())]).toEqual([
      0, 0, 0, 0, 0,
    ]);
    waiters.close(new SupervisorError('WSSUP_SHUTTING_DOWN', 'gone'));
    await turn();
    expect(unhandled).toEqual([]);
  });

  it('settles, and close() goes on to the next wait, when the signal’s removeEventListener throws', async () => {
    const { events, waiters, once } = setup();
    const broken = countingSignal();
    broken.signal.removeEventListener = () => {
      throw new TypeError('cannot remove');
    };
    const first = once({ signal: broken.signal });
    const second = once({ signal: broken.signal });
    const third = once();
    waiters.close(new SupervisorError('WSSUP_SHUTTING_DOWN', 'gone'));
    for (const waiting of [first, second, third]) {
      await expect(waiting).rejects.toMatchObject({ code: 'WSSUP_SHUTTING_DOWN' });
    }
    expect([events.listenerCount(), waiters.size]).toEqual([0, 0]);
  });

  it('called inside a listener of the same event, resolves with the next event, not the current one', async () => {
    const { events, once } = setup();
    let inner: Promise<unknown> | undefined;
    events.on('admitted', () => {
      inner ??= once();
    });
    events.emit('admitted', admitted('a'));
    events.emit('admitted', admitted('b'));
    expect(await inner).toMatchObject({ userId: 'b' });
  });
});
