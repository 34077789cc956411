/**
 * kill -9 of a client process: it holds tens of connections, then dies
 * without closing any of them. The kernel closes (or, where data was still
 * unread, resets) every socket; each connection must reach `disposed` and
 * every resource go back to zero.
 */
import { describe, expect, it } from 'vitest';
import { expectLeakFree, holdConnections, startTarget } from '../helpers/adversary.js';

describe('kill -9 of a client process', () => {
  it('30 connections of 3 users: every one disposed as closed, nothing left', async () => {
    const count = 30;
    const t = await startTarget({ supervisor: { maxConnectionsPerUser: 20 } });
    const program = await holdConnections(`ws://127.0.0.1:${t.port}`, count, 3);
    expect(t.supervisor.stats()).toMatchObject({
      connections: count,
      users: 3,
      counters: { admitted: count },
    });
    // Data in flight to every client; the paused half of them never read it.
    for (const handle of t.handles) expect(handle.send(Buffer.alloc(64 * 1024, 1))).toBe(true);

    program.child.kill('SIGKILL');
    await program.exited;
    expect(program.child.signalCode).toBe('SIGKILL');

    await expectLeakFree(t.supervisor);
    expect(t.events.disposed).toHaveLength(count);
    expect(new Set(t.events.disposed.map((event) => `${event.reason} ${event.closeCode}`))).toEqual(
      new Set(['closed 1006']),
    );
    expect(t.errors).toEqual([]);
  });
});
