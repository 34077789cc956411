/**
 * ws-supervisor/testing's leaksOf(supervisor): [] once every connection has
 * ended; otherwise one sentence per thing still held, from stats() and audit().
 * A real server on port 0 and a real client.
 */
import { describe, expect, it } from 'vitest';
import type { AuditReport, Supervisor, SupervisorStats } from '../../src/index.js';
import { inbox, leaksOf } from '../../src/testing/index.js';
import { connect, startServer } from '../helpers/server.js';

describe('leaksOf(supervisor)', () => {
  it('lists what a supervisor holds while a connection is open, and nothing once it has shut down', async () => {
    const { supervisor, url } = await startServer({ heartbeatIntervalMs: 3_600_000 });
    expect(leaksOf(supervisor)).toEqual([]);
    const ws = await connect(url('ann'));
    expect(leaksOf(supervisor)).toEqual([
      'stats().connections is 1, not 0',
      'stats().users is 1, not 0',
      'stats().counters: 1 admitted but 0 disposed',
      'stats().resources.connectionActors is 1, not 0',
      'stats().resources.userSupervisors is 1, not 0',
      expect.stringMatching(/^stats\(\)\.resources\.pendingTimers is \d+, not 0$/),
      expect.stringMatching(/^stats\(\)\.resources\.socketListeners is \d+, not 0$/),
    ]);
    const closed = inbox(ws).closed;
    await supervisor.shutdown();
    expect((await closed).code).toBe(1001);
    expect(leaksOf(supervisor)).toEqual([]);
  });

  it("gives each of audit()'s mismatches, after what stats() shows", () => {
    const stats = {
      connections: 0,
      users: 0,
      counters: { admitted: 2, rejected: 0, evicted: 0, disposed: 2 },
      resources: { connectionActors: 0, rooms: 1 },
    } as unknown as SupervisorStats;
    const audit: AuditReport = {
      ok: false,
      mismatches: ['room lobby: 1 member in the books, 0 in the actors'],
      walked: { userSupervisors: 0, connectionActors: 0 },
    };
    const stub = { stats: () => stats, audit: () => audit } as unknown as Supervisor;
    expect(leaksOf(stub)).toEqual([
      'stats().resources.rooms is 1, not 0',
      'audit(): room lobby: 1 member in the books, 0 in the actors',
    ]);
  });

  it('reads this process’s books (stats({ cluster: false }))', () => {
    const asked: unknown[] = [];
    const stub = {
      stats: (options: unknown) => {
        asked.push(options);
        return { connections: 0, users: 0, counters: { admitted: 0, disposed: 0 }, resources: {} };
      },
      audit: () => ({ ok: true, mismatches: [], walked: { userSupervisors: 0, connectionActors: 0 } }),
    } as unknown as Supervisor;
    expect(leaksOf(stub)).toEqual([]);
    expect(asked).toEqual([{ cluster: false }]);
  });
});
