/**
 * The coverage gate of a model-based test file: its last test fails, naming
 * every state node and transition of the machine that no path made the real
 * actors enter or take. Call it inside the file's describe, after the paths.
 */
import { afterAll, expect, it } from 'vitest';
import { describeGaps, type MachineCoverage } from './coverage.js';

export interface Progress {
  /** Paths that ran to the end. */
  walked: number;
  /** Paths generated. */
  total: number;
}

export function coverageGate(coverage: MachineCoverage, progress: Progress): void {
  it(`walked every state node and every transition of the ${coverage.machineId} machine`, (context) => {
    // A filtered run (-t) walks only some paths: the gate cannot judge it.
    if (progress.walked < progress.total)
      context.skip(`only ${progress.walked} of ${progress.total} paths ran`);
    const gaps = describeGaps(coverage.report());
    expect(gaps, gaps).toBeUndefined();
  });

  afterAll(() => {
    const { transitions } = coverage.report();
    console.log(
      `${coverage.machineId}: ${progress.total} paths; ${transitions.walked} of ${transitions.total} transitions taken by real actors, ${coverage.exemptCount} exempt`,
    );
  });
}
