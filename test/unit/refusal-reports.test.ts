/**
 * refusalReports(): another process's refused cluster-wide sends are told at most once per
 * period, the first at once, a later one with how many were refused meanwhile. It reads the
 * supervisor's clock.now, Date.now() by default: a wall clock stepped back must not hold the
 * reports back for the length of the step.
 */
import { describe, expect, it } from 'vitest';
import { refusalReports } from '../../src/send-arguments.js';

function setup(periodMs: number) {
  let now = 1_000_000;
  const told: [string, number, number][] = [];
  const reports = refusalReports(
    () => now,
    periodMs,
    (method, size, since) => told.push([method, size, since]),
  );
  return {
    reports,
    told,
    set(at: number) {
      now = at;
    },
  };
}

describe('refusalReports', () => {
  it('tells the first at once, holds the others back for the period, then tells how many', () => {
    const { reports, told, set } = setup(10_000);
    reports.refused('broadcast', 100);
    set(1_009_999);
    reports.refused('broadcast', 101);
    reports.refused('sendToUser', 102);
    expect(told).toEqual([['broadcast', 100, 0]]);
    set(1_010_000);
    reports.refused('sendToUser', 103);
    expect(told).toEqual([
      ['broadcast', 100, 0],
      ['sendToUser', 103, 2],
    ]);
  });

  it('treats a clock stepped back as a period elapsed (Date.now() may step)', () => {
    const { reports, told, set } = setup(10_000);
    reports.refused('broadcast', 100);
    set(1_000_000 - 3_600_000); // the wall clock steps back an hour
    reports.refused('broadcast', 101);
    expect(told).toEqual([
      ['broadcast', 100, 0],
      ['broadcast', 101, 0],
    ]);
    // And the period counts from that report: the next within it is held back again.
    set(1_000_000 - 3_600_000 + 9_999);
    reports.refused('broadcast', 102);
    expect(told).toHaveLength(2);
    set(1_000_000 - 3_600_000 + 10_000);
    reports.refused('broadcast', 103);
    expect(told[2]).toEqual(['broadcast', 103, 1]);
  });
});
