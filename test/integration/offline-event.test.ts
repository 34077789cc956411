/**
 * The `offline` event (mobile trial, items 1 and 4): a user who has had no connection on
 * this process for `lingerMs` (the user supervisor's linger ran out), told once. Not for a
 * reconnect inside the linger (a token rotation's 4002, a network switch), not while
 * another of the user's connections is open, not when shutdown() ends the linger (a
 * deploy). Real sockets on port 0; the linger runs on a SimulatedClock.
 */
import { describe, expect, it, vi } from 'vitest';
import { AppHookError, type OfflineEvent, type Supervisor } from '../../src/index.js';
import { drainTimeoutMs, refusal, startRulesServer, stopReading, waitForUser } from '../helpers/rules.js';
import { allDisposed, connect, expectNoLeaks, ioWait, userFromQuery } from '../helpers/server.js';

const lingerMs = 30_000;

/** Every `offline` event from now on, in order. */
function recordOffline(supervisor: Supervisor): OfflineEvent[] {
  const heard: OfflineEvent[] = [];
  supervisor.on('offline', (event) => heard.push(event));
  return heard;
}

describe("on('offline')", () => {
  it('fires once, lingerMs after the last connection was disposed, with when it left', async () => {
    const t = await startRulesServer({ lingerMs });
    const offline = recordOffline(t.supervisor);
    t.clock.increment(1_000);
    const { ws } = await t.open('alice');
    t.clock.increment(4_000);
    const leftAt = t.clock.now(); // 5,000
    ws.close();
    await allDisposed(t.supervisor);
    expect(t.supervisor.userStats('alice')).toBeUndefined();

    t.clock.increment(lingerMs - 1);
    expect(offline).toEqual([]);
    t.clock.increment(1);
    expect(offline).toEqual([{ userId: 'alice', leftAt, offlineAt: leftAt + lingerMs }]);
    t.clock.increment(10 * lingerMs);
    expect(offline).toHaveLength(1);
    expectNoLeaks(t.supervisor);
  });

  it('does not fire for a reconnect inside the linger; the grace starts again at the next leave', async () => {
    const t = await startRulesServer({ lingerMs });
    const offline = recordOffline(t.supervisor);
    const first = await t.open('alice');
    first.ws.close(); // a 4002 token rotation, a network switch: the client comes back
    await allDisposed(t.supervisor);
    t.clock.increment(lingerMs - 1);
    const second = await t.open('alice');
    t.clock.increment(5 * lingerMs);
    expect(offline).toEqual([]);

    const leftAt = t.clock.now();
    second.ws.close();
    await allDisposed(t.supervisor);
    t.clock.increment(lingerMs);
    expect(offline).toEqual([{ userId: 'alice', leftAt, offlineAt: leftAt + lingerMs }]);
    expectNoLeaks(t.supervisor);
  });

  it('a connection admitted and disposed inside the grace starts it again, from that later disposal', async () => {
    const t = await startRulesServer({ lingerMs });
    const offline = recordOffline(t.supervisor);
    t.clock.increment(1_000);
    const first = await t.open('alice');
    first.ws.close();
    await allDisposed(t.supervisor);
    const firstLeftAt = t.clock.now();
    t.clock.increment(lingerMs / 2);
    const second = await t.open('alice'); // a reconnect that does not last: a flaky network
    t.clock.increment(lingerMs / 4);
    const leftAt = t.clock.now();
    second.ws.close();
    await allDisposed(t.supervisor);

    t.clock.increment(lingerMs - 1); // well past firstLeftAt + lingerMs
    expect(t.clock.now()).toBeGreaterThan(firstLeftAt + lingerMs);
    expect(offline).toEqual([]);
    t.clock.increment(1);
    expect(offline).toEqual([{ userId: 'alice', leftAt, offlineAt: leftAt + lingerMs }]);
    t.clock.increment(10 * lingerMs);
    expect(offline).toHaveLength(1);
    expectNoLeaks(t.supervisor);
  });

  it('counts the grace to the admission, not to the request: an authenticate that ends after it gives offline, then admitted', async () => {
    let letIn: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      letIn = resolve;
    });
    let holding = false;
    const t = await startRulesServer({
      lingerMs,
      authenticate: async (request) => {
        if (holding) await held;
        return userFromQuery(request);
      },
    });
    const order: string[] = [];
    t.supervisor.on('admitted', ({ userId }) => order.push(`admitted ${userId}`));
    t.supervisor.on('offline', ({ userId }) => order.push(`offline ${userId}`));
    const first = await t.open('alice');
    first.ws.close();
    await allDisposed(t.supervisor);
    t.clock.increment(lingerMs - 1);
    holding = true;
    const reconnect = connect(t.url('alice')); // its request arrives inside the grace
    await vi.waitFor(() => expect(t.supervisor.stats().resources.authenticating).toBe(1), ioWait);
    t.clock.increment(1);
    expect(order).toEqual(['admitted alice', 'offline alice']);
    letIn();
    (await reconnect).close();
    await allDisposed(t.supervisor);
    expect(order).toEqual(['admitted alice', 'offline alice', 'admitted alice']);
  });

  it('a reconnect refused inside the grace (the admission rate, 429) does not extend it: offline, then admitted', async () => {
    // One token per 100 s: the reconnect 1 s after the leave finds the bucket empty.
    const t = await startRulesServer({ lingerMs, admissionRate: { perSecond: 0.01, burst: 1 } });
    const order: string[] = [];
    t.supervisor.on('admitted', ({ userId }) => order.push(`admitted ${userId}`));
    t.supervisor.on('rejected', ({ userId, reason }) => order.push(`rejected ${userId} ${reason}`));
    const offline = recordOffline(t.supervisor);
    t.supervisor.on('offline', ({ userId }) => order.push(`offline ${userId}`));
    const first = await t.open('alice');
    t.clock.increment(1_000);
    const leftAt = t.clock.now();
    first.ws.close();
    await allDisposed(t.supervisor);
    t.clock.increment(1_000);
    expect((await refusal(t.url('alice'))).status).toBe(429);

    t.clock.increment(lingerMs - 1_000); // the client backs off past the grace
    expect(offline).toEqual([{ userId: 'alice', leftAt, offlineAt: leftAt + lingerMs }]);
    (await connect(t.url('alice'))).close(); // the bucket went with the supervisor: let in
    await allDisposed(t.supervisor);
    expect(order).toEqual([
      'admitted alice',
      'rejected alice rate-limited',
      'offline alice',
      'admitted alice',
    ]);
  });

  it('does not fire while another of the user’s connections is open, nor for another user', async () => {
    const t = await startRulesServer({ lingerMs });
    const offline = recordOffline(t.supervisor);
    const phone = await t.open('alice');
    await t.open('alice');
    const bob = await t.open('bob');
    phone.ws.close();
    bob.ws.close();
    await disposedCount(t.supervisor, 2);
    t.clock.increment(lingerMs);
    expect(offline.map((event) => event.userId)).toEqual(['bob']);
    expect(t.supervisor.userStats('alice')).toMatchObject({ live: 1 });
  });

  it('waits for a draining connection: the grace starts when the last one is disposed', async () => {
    const t = await startRulesServer({ lingerMs });
    const offline = recordOffline(t.supervisor);
    const leaving = await t.open('alice');
    const closing = await t.open('alice');
    stopReading(leaving.ws); // never answers the close: drains until drainTimeoutMs
    leaving.handle.close(4000, 'bye');
    closing.ws.close();
    await waitForUser(t.supervisor, 'alice', { live: 0, draining: 1 });
    t.clock.increment(drainTimeoutMs - 1);
    expect(t.events.disposed.map((event) => event.reason)).toEqual(['closed']);
    t.clock.increment(1); // the drain timeout terminates the last one
    expect(t.events.disposed.map((event) => event.reason)).toEqual(['closed', 'app-close']);
    const leftAt = t.clock.now();
    t.clock.increment(lingerMs - 1);
    expect(offline).toEqual([]);
    t.clock.increment(1);
    expect(offline).toEqual([{ userId: 'alice', leftAt, offlineAt: leftAt + lingerMs }]);
  });

  it('does not fire when shutdown() ends the connections or the linger (a deploy is not the user leaving)', async () => {
    const t = await startRulesServer({ lingerMs });
    const offline = recordOffline(t.supervisor);
    const lingering = await t.open('alice');
    await t.open('bob'); // still open when the shutdown starts
    lingering.ws.close();
    await disposedCount(t.supervisor, 1);
    expect(t.supervisor.stats().resources.lingeringSupervisors).toBe(1);
    await t.supervisor.shutdown({ deadlineMs: 200 });
    t.clock.increment(10 * lingerMs);
    expect(offline).toEqual([]);
    expect(t.events.disposed.map((event) => [event.userId, event.reason])).toEqual([
      ['alice', 'closed'],
      ['bob', 'shutdown'],
    ]);
  });

  it('with lingerMs: 0, fires right after the last connection’s `disposed`, at the same time', async () => {
    const t = await startRulesServer({ lingerMs: 0 });
    const order: string[] = [];
    t.supervisor.on('disposed', ({ userId }) => order.push(`disposed ${userId}`));
    const offline = recordOffline(t.supervisor);
    t.supervisor.on('offline', ({ userId }) => order.push(`offline ${userId}`));
    const a = await t.open('alice');
    const b = await t.open('alice');
    t.clock.increment(2_000);
    a.ws.close();
    await disposedCount(t.supervisor, 1);
    expect(order).toEqual(['disposed alice']);
    b.ws.close();
    await allDisposed(t.supervisor);
    expect(order).toEqual(['disposed alice', 'disposed alice', 'offline alice']);
    expect(offline).toEqual([{ userId: 'alice', leftAt: 2_000, offlineAt: 2_000 }]);
    expectNoLeaks(t.supervisor);
  });

  it("a listener that throws is reported to onError as on('offline'); the others still hear it", async () => {
    const t = await startRulesServer({ lingerMs });
    const failure = new Error('push service down');
    t.supervisor.on('offline', () => {
      throw failure;
    });
    const offline = recordOffline(t.supervisor);
    const { ws } = await t.open('alice');
    ws.close();
    await allDisposed(t.supervisor);
    t.clock.increment(lingerMs);
    expect(offline.map((event) => event.userId)).toEqual(['alice']);
    const reported = t.errors.filter((error) => error instanceof AppHookError);
    expect(reported).toHaveLength(1);
    expect(reported[0]).toMatchObject({
      code: 'WSSUP_APP_HOOK_FAILED',
      hook: "on('offline')",
      cause: failure,
    });
    expectNoLeaks(t.supervisor);
  });

  it("once('offline') resolves with it", async () => {
    const t = await startRulesServer({ lingerMs });
    const { ws } = await t.open('alice');
    const gone = t.supervisor.once('offline', { matches: (event) => event.userId === 'alice' });
    ws.close();
    await allDisposed(t.supervisor);
    t.clock.increment(lingerMs);
    await expect(gone).resolves.toMatchObject({ userId: 'alice' });
  });
});

/** Waits until `count` connections were disposed (closes from the client side take I/O). */
async function disposedCount(supervisor: Supervisor, count: number): Promise<void> {
  await new Promise<void>((resolve) => {
    const check = () => supervisor.stats().counters.disposed >= count;
    if (check()) return resolve();
    const off = supervisor.on('disposed', () => {
      if (!check()) return;
      off();
      resolve();
    });
  });
}
