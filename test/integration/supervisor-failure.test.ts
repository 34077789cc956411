/**
 * The README's row of WSSUP_INTERNAL: "a failed user supervisor is forgotten,
 * and the runtime terminates each of its connection actors (XState would not
 * stop them), which releases their sockets and slots; an upgrade it was
 * admitting is refused with 500 (`internal-error`)". A user supervisor fails
 * only through a bug in its own step, which no real action can cause: here
 * its admission guard throws for one user's second upgrade (the runtime's
 * own machine, with that one guard replaced), on real sockets.
 */
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { httpRefusal } from '../helpers/refusals.js';
import { allDisposed, closed, connect, expectNoLeaks, startServer } from '../helpers/server.js';

vi.mock('../../machines/user-supervisor.machine.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../machines/user-supervisor.machine.js')>();
  const machine = actual.userSupervisorMachine;
  const hasRoom = machine.implementations.guards.hasRoomAfterEviction as (...args: unknown[]) => boolean;
  return {
    ...actual,
    userSupervisorMachine: machine.provide({
      guards: {
        hasRoomAfterEviction: (...args: unknown[]) => {
          const [{ context }] = args as [{ context: { userId: string; live: unknown[] } }];
          if (context.userId.startsWith('crash') && context.live.length > 0) {
            throw new Error('bug in hasRoomAfterEviction');
          }
          return hasRoom(...args);
        },
      },
    }),
  };
});

describe('a user supervisor that fails', () => {
  it('is reported as WSSUP_INTERNAL and forgotten; its connections are terminated and disposed, the upgrade it was admitting gets 500', async () => {
    // XState's development build warns on console when an event reaches a stopped actor:
    // here, a child's done event sent to its failed parent would mean the runtime ended the
    // child in a way that still reports to its dead owner.
    const warn = vi.spyOn(console, 'warn');
    onTestFinished(() => warn.mockRestore());
    const t = await startServer();
    const first = await connect(t.url('crash-ann'));
    const other = await connect(t.url('bob')); // another user's supervisor is not touched
    const firstClosed = closed(first);

    const refused = await httpRefusal(t.url('crash-ann'));
    expect(refused.status).toBe(500);
    expect(refused.body).toMatch(/internal/);

    // The connection the failed supervisor held is terminated: its socket goes, no close frame.
    expect((await firstClosed).code).toBe(1006);
    await vi.waitFor(() => expect(t.supervisor.stats().users).toBe(1));
    const reported = t.errors.splice(0).map((error) => [error.code, error.message]);
    expect(reported).toContainEqual(['WSSUP_INTERNAL', 'user supervisor of crash-ann failed']);
    expect(t.disposed).toMatchObject([{ userId: 'crash-ann', reason: 'error' }]);
    expect(t.supervisor.userStats('crash-ann')).toBeUndefined();

    // The user can come back: a fresh supervisor is started for it.
    const again = await connect(t.url('crash-ann'));
    expect(t.supervisor.userStats('crash-ann')).toMatchObject({ live: 1 });
    again.close();
    other.close();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
    expect(warn.mock.calls.map((args) => String(args[0]).split('\n')[0])).toEqual([]);
  });
});
