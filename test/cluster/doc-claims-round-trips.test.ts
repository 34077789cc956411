/**
 * The README, "Running several processes": "A connection's slot is reserved before its
 * handshake (one script run), its idle ⇄ live edges are mirrored (never a message), and its
 * slot is released when it is disposed (one script run): two round trips per lifecycle, plus
 * one per idle edge."
 *
 * On a private redis-server, through a supervisor on a real socket, counting the commands
 * Redis ran (INFO commandstats). The supervisor runs on a simulated clock that only the test
 * advances, so that no lease renewal (nor its subscription probe) falls inside a count; the
 * client library's keep-alive PINGs and the counting INFO itself are left out.
 */
import { describe, expect, it, vi } from 'vitest';
import { SimulatedClock } from 'xstate';
import { closed, connect, ioWait, nextMessage, startServer } from '../helpers/server.js';
import { bookOf } from './cluster-nodes.js';
import { commandCalls, hasRedis, usePrivateRedis } from './store-fixture.js';

describe.runIf(hasRedis)('docs: the round trips of one connection in cluster mode', () => {
  const redis = usePrivateRedis();

  /**
   * The commands Redis ran since `before`, but for PING, INFO and the test's own HGETALL
   * (bookOf). Commands a script runs count too (commandstats lists them): `scripts` keeps
   * the script runs alone.
   */
  async function ranSince(before: Record<string, number>): Promise<Record<string, number>> {
    const after = await commandCalls(redis.current);
    const ran: Record<string, number> = {};
    for (const [name, calls] of Object.entries(after)) {
      const more = calls - (before[name] ?? 0);
      if (more > 0 && !['ping', 'info', 'hgetall'].includes(name)) ran[name] = more;
    }
    return ran;
  }
  const scripts = async (before: Record<string, number>) => {
    const { evalsha = 0, eval: evals = 0 } = await ranSince(before);
    return evalsha + evals;
  };

  it('messages cost no command; each idle edge one script run; the release one', async () => {
    const clock = new SimulatedClock();
    const t = await startServer({
      clock,
      idleTimeoutMs: 1_000,
      heartbeatIntervalMs: 1_000_000_000,
      cluster: { redis: redis.current.url, nodeId: 'trips', leaseTtlMs: 60_000 },
    });
    await vi.waitFor(() => expect(t.supervisor.stats().cluster?.leaseHeld).toBe(true), ioWait);
    // A first connection of the user, so that the next one's admission is not its first
    // booking here (which also adds the user to the node's index: a script run more).
    await connect(t.url('ann'));
    await vi.waitFor(async () => expect(await bookOf(redis.current, 'ann')).toHaveLength(1), ioWait);

    let before = await commandCalls(redis.current);
    const ws = await connect(t.url('ann'));
    expect(await scripts(before)).toBe(1);

    before = await commandCalls(redis.current);
    for (let i = 0; i < 50; i++) {
      const echo = nextMessage(ws);
      ws.send(`m${i}`);
      expect(await echo).toBe(`m${i}`);
    }
    // No script ran, so nothing at all: any command would be listed.
    expect(await ranSince(before)).toEqual({});

    // live → idle: one script run (both connections go idle: one each).
    before = await commandCalls(redis.current);
    clock.increment(1_000);
    await vi.waitFor(
      async () => expect((await bookOf(redis.current, 'ann')).filter((e) => e.idle)).toHaveLength(2),
      ioWait,
    );
    expect(await scripts(before)).toBe(2);

    // idle → live: one script run for the one that talks.
    before = await commandCalls(redis.current);
    const echo = nextMessage(ws);
    ws.send('back');
    await echo;
    await vi.waitFor(
      async () => expect((await bookOf(redis.current, 'ann')).filter((e) => e.idle)).toHaveLength(1),
      ioWait,
    );
    expect(await scripts(before)).toBe(1);

    // The release: one script run.
    before = await commandCalls(redis.current);
    const gone = closed(ws);
    ws.close();
    await gone;
    await vi.waitFor(async () => expect(await bookOf(redis.current, 'ann')).toHaveLength(1), ioWait);
    expect(await scripts(before)).toBe(1);
  });
});
