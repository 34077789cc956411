/**
 * Newcomer trial of the docs: the recommended SIGTERM handler,
 * `supervisor.shutdown({ deadlineMs: 1_000, pace: { windowMs: 5_000 } }).catch(log)
 * .finally(() => server.close(...))`, hung: the bad pace (a window over the deadline) rejected
 * and started nothing, so the supervisor kept admitting, the connections stayed open, and
 * server.close() never called back; the pod died by SIGKILL, every client cut (1006) at once.
 * A shutdown asked for must happen: bad options shut down unpaced (with the call's deadlineMs
 * when that is valid on its own, else drainTimeoutMs), tell onError at once, then reject with
 * WSSUP_INVALID_ARGUMENT, saying so. Real sockets.
 */
import type { Server } from 'node:http';
import { describe, expect, it } from 'vitest';
import { SupervisorError } from '../../src/index.js';
import { closeOf, startOwnServer, stopReading, touch } from '../helpers/rules.js';
import { connect, expectNoLeaks } from '../helpers/server.js';

function closeServer(server: Server): Promise<string> {
  return new Promise((resolve) =>
    server.close((error) => resolve(error === undefined ? 'closed' : String(error))),
  );
}

describe('shutdown() with bad options still shuts down', () => {
  it("the trial's SIGTERM handler: 1001 to every client, server.close() calls back, the mistake rejects", async () => {
    const t = await startOwnServer();
    const clients = [await connect(t.url('alice')), await connect(t.url('bob'))];
    for (const ws of clients) await touch(ws);
    const closes = clients.map(closeOf);
    const log: unknown[] = [];
    let serverClosed: Promise<string> | undefined;
    const stopped = t.supervisor
      .shutdown({ deadlineMs: 1_000, pace: { windowMs: 5_000, batches: 5 } })
      .catch((error: unknown) => log.push(error))
      .finally(() => {
        serverClosed = closeServer(t.server);
      });
    // Refusing at once: the default shutdown began in the same call.
    expect(t.supervisor.stats().admission).toEqual({ admitting: false, reason: 'shutting-down' });
    // Unpaced (the defaults): both told at once, with the plain reason.
    expect(await Promise.all(closes)).toEqual([
      { code: 1001, reason: 'server shutting down' },
      { code: 1001, reason: 'server shutting down' },
    ]);
    await stopped;
    expect(await serverClosed).toBe('closed');
    expect(log).toHaveLength(1);
    const [error] = log as SupervisorError[];
    expect(error).toBeInstanceOf(SupervisorError);
    expect(error?.code).toBe('WSSUP_INVALID_ARGUMENT');
    expect(error?.message).toMatch(
      /^pace\.windowMs must be an integer from 0 to deadlineMs \(1000\), got 5000/,
    );
    expect(error?.message).toMatch(/; shut down instead with no pace and deadlineMs \d+$/);
    expect(t.supervisor.stats().connections).toBe(0);
    expect(t.events.disposed.map((event) => event.reason)).toEqual(['shutdown', 'shutdown']);
    expectNoLeaks(t.supervisor);
  });

  /** A client that never answers its 1001: it is held until the deadline terminates it. */
  async function heldUntilDeadline(drainTimeoutMs: number, options: unknown) {
    const t = await startOwnServer({ drainTimeoutMs });
    const ws = await connect(t.url('ida'));
    await touch(ws);
    stopReading(ws);
    const settled = t.supervisor.shutdown(options as { deadlineMs: number }).then(
      () => new Error('resolved'),
      (error: unknown) => error,
    );
    return { t, settled };
  }

  it("a deadlineMs valid on its own is kept: the operator's budget, not drainTimeoutMs", async () => {
    const { t, settled } = await heldUntilDeadline(60_000, {
      deadlineMs: 30_000,
      pace: { windowMs: 40_000 },
    });
    // Told at once, before the drain ends: a pod killed meanwhile still logs why it ran unpaced.
    expect(t.errors.map((error) => [error.code, error.message])).toEqual([
      [
        'WSSUP_INVALID_ARGUMENT',
        expect.stringMatching(/^pace\.windowMs .*; shut down instead with no pace and deadlineMs 30000$/),
      ],
    ]);
    t.clock.increment(29_999);
    expect(t.supervisor.stats().connections).toBe(1);
    t.clock.increment(1);
    const error = await settled;
    expect(error).toMatchObject({ code: 'WSSUP_INVALID_ARGUMENT', message: t.errors[0]?.message });
    expect(t.supervisor.stats().connections).toBe(0);
    expect(t.events.disposed.map((event) => event.reason)).toEqual(['shutdown']);
  });

  it('a deadlineMs not valid either: drainTimeoutMs', async () => {
    const { t, settled } = await heldUntilDeadline(60_000, { deadlineMs: -1 });
    t.clock.increment(59_999);
    expect(t.supervisor.stats().connections).toBe(1);
    t.clock.increment(1);
    expect(await settled).toMatchObject({
      code: 'WSSUP_INVALID_ARGUMENT',
      message: expect.stringMatching(/; shut down instead with no pace and deadlineMs 60000$/),
    });
    expect(t.supervisor.stats().connections).toBe(0);
  });
});
