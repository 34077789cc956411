/**
 * The renewal's deadline after a renewal answered 'late' while its caller still waited
 * (src/cluster/redis-clock-offset.ts, renewedLate). The renewal sent again must get a deadline
 * from that answer, never one after the moment its caller gives up, or a renewal that Redis
 * runs after the caller gave up could take a lease nobody holds (a ghost incarnation).
 * Redis's clock here runs `skew` ms ahead of this process's.
 */
import { describe, expect, it } from 'vitest';
import { ClockOffset } from '../../src/cluster/redis-clock-offset.js';

const commandTimeoutMs = 500;

/** A renewal's exact reading: sent and answered at once, Redis's clock `skew` ms ahead. */
function measured(skew: number): ClockOffset {
  const clocks = new ClockOffset();
  const at = Date.now();
  clocks.renewed(at + skew, at, at, 'run-a');
  return clocks;
}

describe('the deadline of the renewal sent again after a late answer', () => {
  it('a call that waited in a paused Redis while this process stalled: never after the caller gives up', () => {
    const clocks = measured(0);
    // Sent 1,650 ms ago; Redis, paused all along, ran it just now: its TIME is now, not the middle.
    const received = Date.now();
    clocks.renewedLate(received - 5, received);
    const before = Date.now();
    const deadline = clocks.renewalDeadline(undefined, commandTimeoutMs);
    // On Redis's clock (no skew), the caller gives up commandTimeoutMs from now at the earliest.
    expect(deadline).toBeLessThanOrEqual(before + commandTimeoutMs);
    expect(deadline).toBeGreaterThan(before + commandTimeoutMs - 20);
  });

  it("a server whose clock stepped 2 s ahead: the answer's clock, not the reading kept (else late again)", () => {
    const clocks = measured(0);
    const received = Date.now();
    clocks.renewedLate(received + 2_000, received);
    const before = Date.now();
    const deadline = clocks.renewalDeadline(undefined, commandTimeoutMs);
    expect(deadline).toBeGreaterThan(before + 2_000 + commandTimeoutMs - 20);
    expect(deadline).toBeLessThanOrEqual(Date.now() + 2_000 + commandTimeoutMs);
  });

  it("on a Redis Cluster too: the answer's clock over the registry master's kept reading", () => {
    const clocks = measured(0);
    const at = Date.now();
    const master = {
      runId: 'run-m',
      demoted: false,
      offsetMs: 0,
      errorMs: 1,
      at,
      address: '10.0.0.1:6379',
      policy: 'noeviction',
    };
    clocks.mastersChecked([master], ['10.0.0.1:6379']);
    const received = Date.now();
    clocks.renewedLate(received + 2_000, received);
    const before = Date.now();
    expect(clocks.renewalDeadline('10.0.0.1:6379', commandTimeoutMs)).toBeGreaterThan(
      before + 2_000 + commandTimeoutMs - 20,
    );
    // Once: the renewal after it is back on the master's own reading.
    expect(clocks.renewalDeadline('10.0.0.1:6379', commandTimeoutMs)).toBeLessThanOrEqual(
      Date.now() + commandTimeoutMs,
    );
  });
});
