/**
 * The README's React hook keeps the client's instance id in a ref, so that StrictMode's second
 * client (created at once after the first one's close) replaces the first one's connection, if
 * the server admitted it, instead of being refused at a limit of 1. The server replaces a
 * connection only for a LATER attempt of its instance (README, "Only a later attempt"), and
 * each client stamps its own attempts: a second client of the same id created in the same
 * millisecond stamps the same time. This pins what the README's "React" section says of it: in
 * the same millisecond, the second is refused (4429, as without the ref) while the first still
 * holds the slot; one millisecond later, it replaces the first (4001 `evicted: superseded`).
 * Chromium with React 19 in development put 4 to 114 ms between the two (60 loads of
 * test/browser/react-strict-mode.test.ts), never the same millisecond. The first client stays
 * open here, standing for a connection whose close the server has not heard yet (the race the
 * ref is for); the wall clock is held still with vi.spyOn around each createClient().
 */
import { describe, expect, it, vi } from 'vitest';
import type { EvictedEvent, RejectedEvent } from '../../src/index.js';
import { startServer } from '../helpers/server.js';
import { startClient, type TestClient } from './helpers.js';

const instance = 'react-ref-instance-id';

/** A client of `instance`, its attempt stamped at `atMs` on the wall clock. */
function clientAt(url: string, atMs: number): TestClient {
  const now = vi.spyOn(Date, 'now').mockReturnValue(atMs);
  try {
    return startClient({ url, instance }); // its first attempt is claimed inside createClient()
  } finally {
    now.mockRestore();
  }
}

describe("two clients of one instance id (the React hook's ref), at a limit of 1", () => {
  it('in the same millisecond, the second is refused (4429) and the first keeps its slot; a millisecond later, it replaces the first', async () => {
    const t = await startServer({ maxConnectionsPerUser: 1, refuse: 'close' });
    const rejected: RejectedEvent[] = [];
    const evicted: EvictedEvent[] = [];
    t.supervisor.on('rejected', (event) => rejected.push(event));
    t.supervisor.on('evicted', (event) => evicted.push(event));
    const url = t.url('ann');
    const at = Date.now();

    const first = clientAt(url, at);
    expect((await first.next('open')).url).toMatch(
      new RegExp(`wssup-instance=${instance}\\.${at}&wssup-heartbeat=1$`), // a default client: it asks
    );
    const [held] = t.supervisor.connectionsOf('ann');

    const same = clientAt(url, at);
    expect(await same.next('close')).toMatchObject({ code: 4429, kind: 'too-many-requests' });
    expect(rejected.map((event) => event.reason)).toEqual(['user-limit']);
    expect(evicted).toEqual([]);
    expect(t.supervisor.connectionsOf('ann').map((c) => c.id)).toEqual([held?.id]);
    same.client.close();

    const later = clientAt(url, at + 1);
    await later.next('open');
    expect(await first.next('close')).toMatchObject({ code: 4001, reason: 'evicted: superseded' });
    expect(evicted).toEqual([{ connectionId: held?.id, userId: 'ann', cause: 'superseded' }]);
    expect(rejected).toHaveLength(1);
    expect(t.supervisor.userStats('ann')).toMatchObject({ live: 1 });
    first.client.close();
    later.client.close();
  });
});
