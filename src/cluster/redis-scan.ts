/**
 * Reads a set in bounded pages (SSCAN), for the three readers of an
 * incarnation's index: the reaper, the cluster-wide view and stop().
 *
 * Why not SMEMBERS: Redis runs one command at a time, and SMEMBERS builds
 * and sends its whole reply in one go. The index of a dead node with 100,000
 * users made another client's PING wait 16-52 ms; an SSCAN page of SET_PAGE
 * members costs ~0.15 ms (docs/cluster-store.md, bench/index-read.ts).
 *
 * What SSCAN promises, and what its callers must live with:
 * - a member present for the whole scan is returned at least once;
 * - a member may be returned more than once (the set was resized meanwhile);
 * - a member added or removed during the scan may or may not be returned.
 * So a caller never counts on "seen once" (purge and SREM are idempotent, the
 * view dedupes), and one that must know the set is empty asks again after
 * the scan (SCARD), unless the scan was one command (an empty first page with
 * cursor 0: that reply is atomic).
 */
import type { RedisConnection } from './redis-client.js';

/**
 * The COUNT asked of each SSCAN. A hint: Redis returns about that many members
 * (a small set, kept as an intset or listpack, comes whole in one page).
 */
export const SET_PAGE = 500;

/**
 * Reads set `key` page by page, handing each page to `onPage`. The next page's
 * SSCAN goes out as soon as a page arrives, together with what onPage sends
 * for it: one round trip per page, counted under `method`. onPage returns the
 * promise of what it sent, or undefined when it sent nothing (then the last
 * page costs no round trip of its own); the next page waits for it.
 *
 * Resolves with how many SSCAN commands the read took, once onPage's work for
 * every page has settled. A failed SSCAN rejects, after the work on the pages
 * read before it has settled: nothing is left in flight.
 *
 * `more`, asked after each page but the last: false stops the read there (a bounded
 * read, the dashboard's Cluster card), without asking for the next page.
 */
export async function scanSet(
  connection: RedisConnection,
  key: string,
  method: string,
  onPage: (members: string[]) => Promise<unknown> | undefined,
  more: () => boolean = () => true,
): Promise<number> {
  let cursor = '0';
  let scans = 1;
  connection.roundTrip(method);
  let reply = connection.command(['SSCAN', key, cursor, 'COUNT', String(SET_PAGE)]);
  for (;;) {
    const [next, members] = (await reply) as [string, string[]];
    cursor = next;
    const sent = onPage(members);
    if (cursor === '0' || !more()) {
      if (sent !== undefined) {
        connection.roundTrip(method);
        await sent;
      }
      return scans;
    }
    scans += 1;
    connection.roundTrip(method);
    reply = connection.command(['SSCAN', key, cursor, 'COUNT', String(SET_PAGE)]);
    // A failed SSCAN is thrown by the next turn's await, once this page's work is done.
    reply.catch(() => {});
    await sent;
  }
}
