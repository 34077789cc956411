/**
 * supervisor.once(name, matches?, { signal }?): the next event as a promise, on a real ws
 * server on port 0. It resolves with the first event `matches` takes, rejects with what
 * `matches` throws (not reported to onError), with WSSUP_INVALID_ARGUMENT for a matches that
 * answers no boolean, with the signal's reason, and with WSSUP_SHUTTING_DOWN once shutdown()
 * has resolved (after the shutdown's own events). Its listener is gone once it settles:
 * `matches` is never called again.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import type { DisposedEvent, RejectedEvent } from '../../src/index.js';
import { refusal, startRulesServer } from '../helpers/rules.js';
import { closed, connect, startServer } from '../helpers/server.js';

describe('supervisor.once()', () => {
  it('resolves with the next event of its name, and with the first that matches', async () => {
    const t = await startServer();
    const any = t.supervisor.once('admitted');
    const bob = t.supervisor.once('admitted', (event) => event.userId === 'bob');
    await connect(t.url('alice'));
    expect(await any).toMatchObject({ userId: 'alice' });
    await connect(t.url('bob'));
    expect(await bob).toMatchObject({ userId: 'bob' });
    expectTypeOf(bob).resolves.toEqualTypeOf<{
      connectionId: string;
      userId: string;
      correlationId: string | undefined;
    }>();
  });

  it('calls matches no more once it has settled (its listener is removed)', async () => {
    const t = await startServer();
    const seen: string[] = [];
    const first = t.supervisor.once('admitted', (event) => {
      seen.push(event.userId);
      return true;
    });
    await connect(t.url('a'));
    await first;
    const after = t.supervisor.once('admitted');
    await connect(t.url('b'));
    await after;
    expect(seen).toEqual(['a']);
  });

  it('narrows the event by a type-guard matches', async () => {
    const t = await startRulesServer({ maxConnectionsPerUser: 1 });
    await t.open('kai');
    const atLimit = t.supervisor.once(
      'rejected',
      (event): event is Extract<RejectedEvent, { reason: 'user-limit' }> => event.reason === 'user-limit',
    );
    expect((await refusal(t.url('kai'))).status).toBe(429);
    const event = await atLimit;
    expectTypeOf(event.reason).toEqualTypeOf<'user-limit'>();
    expect(event).toMatchObject({ reason: 'user-limit', live: 1, limit: 1 });
  });

  it('rejects with what matches throws, removes its listener, and reports nothing to onError', async () => {
    const t = await startServer();
    let calls = 0;
    // The expectation first: a rejection that finds no handler while the test awaits something else is unhandled.
    const failing = expect(
      t.supervisor.once('admitted', () => {
        calls += 1;
        throw new Error('matches failed');
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

  it('rejects with WSSUP_INVALID_ARGUMENT when matches answers no boolean (a listener, an async matches)', async () => {
    const t = await startServer();
    const asListener = expect(
      t.supervisor.once('admitted', (() => undefined) as never),
    ).rejects.toMatchObject({
      code: 'WSSUP_INVALID_ARGUMENT',
      message: expect.stringContaining(
        'matches must return true or false, got undefined: once() is a promise',
      ),
    });
    const asAsync = expect(t.supervisor.once('admitted', (async () => true) as never)).rejects.toMatchObject({
      code: 'WSSUP_INVALID_ARGUMENT',
      message: expect.stringContaining('it must be synchronous'),
    });
    await connect(t.url('a'));
    await Promise.all([asListener, asAsync]);
  });

  it('throws WSSUP_INVALID_ARGUMENT, and waits for nothing, for a bad name, matches or options', async () => {
    const t = await startServer();
    const calls = [
      () => t.supervisor.once('open' as never),
      () => t.supervisor.once('admitted', 'alice' as never),
      () => t.supervisor.once('admitted', undefined, { timeout: 5 } as never),
      () => t.supervisor.once('admitted', undefined, { signal: 'soon' } as never),
      () => t.supervisor.once('admitted', undefined, null as never),
    ];
    for (const call of calls)
      expect(call).toThrow(expect.objectContaining({ code: 'WSSUP_INVALID_ARGUMENT' }));
    expect(() => t.supervisor.once('open' as never)).toThrow("the onOpen option, or the 'admitted' event");
  });

  it('rejects with the signal’s reason when it aborts, and at once when it has', async () => {
    const t = await startServer();
    const controller = new AbortController();
    let calls = 0;
    const waiting = t.supervisor.once('admitted', () => ++calls > 0, { signal: controller.signal });
    controller.abort(new Error('gave up'));
    await expect(waiting).rejects.toThrow('gave up');
    await expect(t.supervisor.once('admitted', undefined, { signal: AbortSignal.abort('no') })).rejects.toBe(
      'no',
    );
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
});
