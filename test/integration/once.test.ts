/**
 * supervisor.once(name, { matches?, signal? }?): the next event as a promise, on a real ws
 * server on port 0. It resolves with the first event `matches` takes, rejects with what
 * `matches` throws (not reported to onError), with WSSUP_INVALID_ARGUMENT for a matches that
 * answers no boolean, with the signal's reason, and with WSSUP_SHUTTING_DOWN once shutdown()
 * has resolved (after the shutdown's own events). Its listener is gone once it settles:
 * `matches` is never called again. A listener passed as EventEmitter's `once(name, listener)`,
 * as Node's `events.once(supervisor, name)` does, throws at the call: events.once() rejects
 * its own promise with that error, and no rejection goes unhandled.
 */
import { once as onceOf } from 'node:events';
import { setImmediate as turn } from 'node:timers/promises';
import { describe, expect, expectTypeOf, it, onTestFinished, vi } from 'vitest';
import type { AdmittedEvent, DisposedEvent, RejectedEvent } from '../../src/index.js';
import { refusal, startRulesServer } from '../helpers/rules.js';
import { closed, connect, ioWait, startServer } from '../helpers/server.js';

/** The process's unhandled rejections while the test runs. */
function unhandledRejections(): unknown[] {
  const seen: unknown[] = [];
  const record = (reason: unknown) => seen.push(reason);
  process.on('unhandledRejection', record);
  onTestFinished(() => {
    process.off('unhandledRejection', record);
  });
  return seen;
}

describe('supervisor.once()', () => {
  it('resolves with the next event of its name, and with the first that matches', async () => {
    const t = await startServer();
    const any = t.supervisor.once('admitted');
    const bob = t.supervisor.once('admitted', { matches: (event) => event.userId === 'bob' });
    await connect(t.url('alice'));
    expect(await any).toMatchObject({ userId: 'alice' });
    await connect(t.url('bob'));
    expect(await bob).toMatchObject({ userId: 'bob' });
    expectTypeOf(any).resolves.toEqualTypeOf<AdmittedEvent>();
    expectTypeOf(bob).resolves.toEqualTypeOf<{
      connectionId: string;
      userId: string;
      correlationId: string | undefined;
    }>();
  });

  it('calls matches no more once it has settled (its listener is removed)', async () => {
    const t = await startServer();
    const seen: string[] = [];
    const first = t.supervisor.once('admitted', {
      matches: (event) => {
        seen.push(event.userId);
        return true;
      },
    });
    await connect(t.url('a'));
    await first;
    const after = t.supervisor.once('admitted', {});
    await connect(t.url('b'));
    await after;
    expect(seen).toEqual(['a']);
  });

  it('narrows the event by a type-guard matches', async () => {
    const t = await startRulesServer({ maxConnectionsPerUser: 1 });
    await t.open('kai');
    const atLimit = t.supervisor.once('rejected', {
      matches: (event): event is Extract<RejectedEvent, { reason: 'user-limit' }> =>
        event.reason === 'user-limit',
      signal: new AbortController().signal,
    });
    // TypeScript infers a type guard from an arrow like this one (5.5+): it narrows too.
    const inferred = t.supervisor.once('rejected', { matches: (event) => event.reason === 'user-limit' });
    expectTypeOf(inferred).resolves.toEqualTypeOf<Extract<RejectedEvent, { reason: 'user-limit' }>>();
    // A plain boolean leaves the event type whole.
    const any = t.supervisor.once('rejected', { matches: (event) => event.message.length > 0 });
    expectTypeOf(any).resolves.toEqualTypeOf<RejectedEvent>();
    expect((await refusal(t.url('kai'))).status).toBe(429);
    const event = await atLimit;
    expectTypeOf(event.reason).toEqualTypeOf<'user-limit'>();
    expect(event).toMatchObject({ reason: 'user-limit', live: 1, limit: 1 });
    expect(await Promise.all([inferred, any])).toEqual([event, event]);
  });

  it('rejects with what matches throws, removes its listener, and reports nothing to onError', async () => {
    const t = await startServer();
    let calls = 0;
    // The expectation first: a rejection that finds no handler while the test awaits something else is unhandled.
    const failing = expect(
      t.supervisor.once('admitted', {
        matches: () => {
          calls += 1;
          throw new Error('matches failed');
        },
      }),
    ).rejects.toThrow('matches failed');
    await connect(t.url('a'));
    await failing;
    const next = t.supervisor.once('admitted');
    await connect(t.url('b'));
    await next;
    expect(calls).toBe(1);
    expect(t.errors).toEqual([]);
  });

  it('rejects with WSSUP_INVALID_ARGUMENT when matches answers no boolean (a forgotten return, an async matches)', async () => {
    const t = await startServer();
    const noReturn = expect(
      // A block body without `return`: its answer is undefined, not false.
      t.supervisor.once('admitted', {
        matches: ((event: AdmittedEvent) => {
          event.userId === 'a';
        }) as never,
      }),
    ).rejects.toMatchObject({
      code: 'WSSUP_INVALID_ARGUMENT',
      message: expect.stringContaining('matches must return true or false, got undefined'),
    });
    const asAsync = expect(
      t.supervisor.once('admitted', { matches: (async () => true) as never }),
    ).rejects.toMatchObject({
      code: 'WSSUP_INVALID_ARGUMENT',
      message: expect.stringContaining('it must be synchronous'),
    });
    await connect(t.url('a'));
    await Promise.all([noReturn, asAsync]);
  });

  it("throws at the call for a listener (EventEmitter's once(name, listener)): events.once(supervisor, name) rejects with it, nothing unhandled", async () => {
    const unhandled = unhandledRejections();
    const t = await startServer();
    let heard = 0;
    expect(() =>
      t.supervisor.once('admitted', (() => {
        heard += 1;
      }) as never),
    ).toThrow(
      expect.objectContaining({
        code: 'WSSUP_INVALID_ARGUMENT',
        message: expect.stringContaining(
          "supervisor.once('admitted') returns a promise and takes no listener: `await supervisor.once('admitted')`; to filter, pass { matches }",
        ),
      }),
    );
    // Node's events.once() calls supervisor.once('admitted', itsListener) inside its Promise executor.
    await expect(onceOf(t.supervisor as never, 'admitted')).rejects.toMatchObject({
      code: 'WSSUP_INVALID_ARGUMENT',
      message: expect.stringContaining('returns a promise and takes no listener'),
    });
    const next = t.supervisor.once('admitted');
    await connect(t.url('a'));
    await next;
    await turn();
    expect(heard).toBe(0);
    expect(unhandled).toEqual([]);
    expect(t.errors).toEqual([]);
  });

  it('throws WSSUP_INVALID_ARGUMENT, and waits for nothing, for a bad name or options', async () => {
    const t = await startServer();
    const calls = [
      () => t.supervisor.once('open' as never),
      () => t.supervisor.once('admitted', 'alice' as never),
      () => t.supervisor.once('admitted', { matches: 'alice' } as never),
      () => t.supervisor.once('admitted', { timeout: 5 } as never),
      () => t.supervisor.once('admitted', { signal: 'soon' } as never),
      () => t.supervisor.once('admitted', null as never),
      // The signature before { matches }: a third argument is refused, not ignored.
      () => (t.supervisor.once as (...args: unknown[]) => unknown)('admitted', undefined, {}),
    ];
    for (const call of calls)
      expect(call).toThrow(expect.objectContaining({ code: 'WSSUP_INVALID_ARGUMENT' }));
    expect(() => t.supervisor.once('open' as never)).toThrow("the onOpen option, or the 'admitted' event");
  });

  it('throws for a signal in place of its options, and for one whose addEventListener throws: shutdown() leaves nothing unhandled', async () => {
    const unhandled = unhandledRejections();
    const t = await startServer();
    const controller = new AbortController();
    // Read as {} before: abort() did nothing and the wait lasted until the shutdown.
    expect(() => t.supervisor.once('capacity', controller.signal as never)).toThrow(
      expect.objectContaining({
        code: 'WSSUP_INVALID_ARGUMENT',
        message:
          "supervisor.once('capacity'): options must be a plain object { matches?, signal? }, got an AbortSignal: to stop the wait with this signal, pass { signal }",
      }),
    );
    const signal = {
      aborted: false,
      addEventListener() {
        throw new TypeError('frozen');
      },
      removeEventListener() {},
    };
    expect(() => t.supervisor.once('capacity', { signal } as never)).toThrow(
      expect.objectContaining({
        code: 'WSSUP_INVALID_ARGUMENT',
        message: expect.stringContaining("signal.addEventListener('abort') threw a TypeError"),
      }),
    );
    await t.supervisor.shutdown();
    await turn();
    expect(unhandled).toEqual([]);
  });

  it('rejects with the signal’s reason when it aborts, and at once when it has', async () => {
    const t = await startServer();
    const controller = new AbortController();
    let calls = 0;
    const waiting = t.supervisor.once('admitted', { matches: () => ++calls > 0, signal: controller.signal });
    controller.abort(new Error('gave up'));
    await expect(waiting).rejects.toThrow('gave up');
    await expect(t.supervisor.once('admitted', { signal: AbortSignal.abort('no') })).rejects.toBe('no');
    await connect(t.url('a')); // admitted before it opens
    expect(calls).toBe(0); // both listeners were removed
  });

  it("resolves with the shutdown's own events, then rejects what still waits with WSSUP_SHUTTING_DOWN", async () => {
    const t = await startServer();
    const ws = await connect(t.url('alice'));
    const gone = t.supervisor.once('disposed');
    const wsClosed = closed(ws);
    let settledFirst = false;
    const never = expect(
      t.supervisor.once('evicted').finally(() => {
        settledFirst = true;
      }),
    ).rejects.toMatchObject({ code: 'WSSUP_SHUTTING_DOWN' });
    const stopped = t.supervisor.shutdown({ deadlineMs: 200 });
    // Called while shutting down: still waits, and rejects with the others.
    const late = expect(t.supervisor.once('admitted')).rejects.toMatchObject({ code: 'WSSUP_SHUTTING_DOWN' });
    expect(await gone).toMatchObject<Partial<DisposedEvent>>({ userId: 'alice', reason: 'shutdown' });
    await stopped;
    // Rejected before shutdown() resolved: nothing waits past it.
    expect(settledFirst).toBe(true);
    await Promise.all([never, late]);
    await expect(t.supervisor.once('disposed')).rejects.toMatchObject({ code: 'WSSUP_SHUTTING_DOWN' });
    expect((await wsClosed).code).toBe(1001);
  });

  it('names the event, and has the stack of the once() call, when shutdown rejects a wait (a test that failed before awaiting it)', async () => {
    const t = await startServer();
    // As a test that failed between its once() and its await: only close() settles the wait.
    function waitForEviction() {
      return t.supervisor.once('evicted');
    }
    const evicted = waitForEviction();
    const late = evicted.catch((error: unknown) => error);
    await t.supervisor.shutdown();
    const error = (await late) as Error;
    expect(error).toMatchObject({
      code: 'WSSUP_SHUTTING_DOWN',
      message: "supervisor.once('evicted'): the supervisor has shut down",
    });
    // The report points at the call (here, the helper), not only into the library's shutdown.
    expect(error.stack).toMatch(
      /^SupervisorError: supervisor\.once\('evicted'\): the supervisor has shut down\n/,
    );
    // Its first frame is the app's (the library's are left out, where the runtime can).
    expect(error.stack?.split('\n')[1]).toContain('waitForEviction');
    // A wait begun after the end: the same, from its own call.
    function lateWait() {
      return t.supervisor.once('admitted');
    }
    const after = (await lateWait().catch((rejected: unknown) => rejected)) as Error;
    expect(after.message).toBe("supervisor.once('admitted'): the supervisor has shut down");
    expect(after.stack).toContain('lateWait');
  });

  it('rejects a wait nobody awaits at shutdown too: a fire-and-forget wait needs its .catch', async () => {
    const unhandled = unhandledRejections();
    const t = await startServer();
    const logged: unknown[] = [];
    const caught: unknown[] = [];
    // Without the .catch, this rejection would be unhandled, and would end a Node process.
    t.supervisor
      .once('capacity')
      .then((event) => logged.push(event))
      .catch((error: unknown) => caught.push(error));
    await t.supervisor.shutdown();
    expect(caught).toMatchObject([{ code: 'WSSUP_SHUTTING_DOWN' }]);
    expect(logged).toEqual([]);
    await turn();
    expect(unhandled).toEqual([]);
  });

  it("rejects once('rejected') at once after shutdown, though on('rejected') still hears the refusals", async () => {
    const t = await startServer();
    await t.supervisor.shutdown();
    const heard: RejectedEvent[] = [];
    t.supervisor.on('rejected', (event) => heard.push(event));
    await expect(t.supervisor.once('rejected')).rejects.toMatchObject({ code: 'WSSUP_SHUTTING_DOWN' });
    // The server stays attached: its upgrades are refused, and reported, after the shutdown.
    expect((await refusal(t.url('late'))).status).toBe(503);
    await vi.waitFor(() => expect(heard).toMatchObject([{ reason: 'shutting-down', status: 503 }]), ioWait);
  });
});
