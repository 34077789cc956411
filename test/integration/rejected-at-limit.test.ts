/**
 * The page "user 42 says: maximum number of connections reached": the `rejected` event of a
 * refusal at the per-user limit says how many connections the user held and what the limit
 * was (`live`, `limit`, as the `capacity` event does), so the log line of the 429 answers
 * "at what count?" without a second read. Other refusals carry neither.
 */
import { describe, expect, it } from 'vitest';
import type { RejectedEvent } from '../../src/index.js';
import { connect, connectRefused, startServer } from '../helpers/server.js';

describe('the rejected event at the per-user limit', () => {
  it('carries the live count and the limit on user-limit, and neither on other refusals', async () => {
    const t = await startServer({ maxConnectionsPerUser: 3, idleTimeoutMs: 1_000_000_000 });
    const rejected: RejectedEvent[] = [];
    t.supervisor.on('rejected', (event) => rejected.push(event));
    for (let i = 0; i < 3; i += 1) await connect(t.url('42'));

    expect(await connectRefused(t.url('42'))).toBe(429);
    expect(await connectRefused(`ws://127.0.0.1:${t.port}/`)).toBe(401); // no user: unauthenticated

    expect(rejected).toHaveLength(2);
    expect(rejected[0]).toMatchObject({ reason: 'user-limit', status: 429, userId: '42', live: 3, limit: 3 });
    expect(rejected[1]?.reason).toBe('unauthenticated');
    expect(rejected[1]?.live).toBeUndefined();
    expect(rejected[1]?.limit).toBeUndefined();
  });
});
