/**
 * kill -9 of a client process, heavy (npm run test:adversarial only): the
 * child holds 2,000 connections of 100 users and dies at once.
 */
import { expect, it } from 'vitest';
import { expectLeakFree, holdConnections, openFileLimit, startTarget } from '../helpers/adversary.js';

const count = 2_000;
const users = 100;

it.skipIf(openFileLimit() < count + 200)(
  `kill -9 of a process holding ${count} connections of ${users} users`,
  async () => {
    const t = await startTarget({ supervisor: { maxConnectionsPerUser: 20 } });
    const program = await holdConnections(`ws://127.0.0.1:${t.port}`, count, users, 90_000);
    expect(t.supervisor.stats()).toMatchObject({ connections: count, users, counters: { admitted: count } });
    for (const handle of t.handles) handle.send(Buffer.alloc(4 * 1024, 1));

    program.child.kill('SIGKILL');
    await program.exited;
    expect(program.child.signalCode).toBe('SIGKILL');

    await expectLeakFree(t.supervisor, 30_000);
    expect(t.events.disposed).toHaveLength(count);
    expect(new Set(t.events.disposed.map((event) => `${event.reason} ${event.closeCode}`))).toEqual(
      new Set(['closed 1006']),
    );
    expect(t.errors).toEqual([]);
  },
);
