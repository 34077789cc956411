/**
 * Putting one connection's idle edge ahead of the others', for the tests of the eviction rule
 * at an idle edge across processes (doc-claims-per-process, idle-edge-evict-cluster).
 */
import { expect, vi } from 'vitest';
import type WebSocket from 'ws';
import type { ConnectionHandle } from '../../src/index.js';
import { ioWait, nextMessage } from '../helpers/server.js';

/**
 * Once `first` (a server's handle) has been quiet for half the idle timeout, a message on
 * each of `others` (echoed, so the server has it): their idle edges come half a second
 * after the first's. Connected a few ms apart, the edges of two processes reach Redis in
 * either order (seen under load: the first, on B, kept, A's second evicted at its own edge,
 * then a test's `closed(first)` waited for good), and the first edge to reach the book at T
 * evicts the longest idle the book knows of, its own connection.
 */
export async function speakOnceFirstIsHalfIdle(
  first: ConnectionHandle | undefined,
  others: WebSocket[],
): Promise<void> {
  if (first === undefined) throw new Error('the first connection has no handle');
  await vi.waitFor(() => expect(first.idleForMs).toBeGreaterThanOrEqual(500), { ...ioWait, interval: 10 });
  await Promise.all(
    others.map(async (ws) => {
      const echoed = nextMessage(ws);
      ws.send('still here');
      expect(await echoed).toBe('still here');
    }),
  );
}
