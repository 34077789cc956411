/**
 * How every property test (fast-check) picks its number of runs and its seed,
 * in one place, so that a long fuzzing session is one environment variable away:
 *
 *     WSSUP_FUZZ_RUNS=30 npx vitest run test/property/supervisor.property.test.ts
 *     WSSUP_FUZZ_SEED=123 npx vitest run test/cluster/interleavings.property.test.ts
 *     WSSUP_FUZZ_SEED=123 WSSUP_FUZZ_PATH="7:1:0" npx vitest run <file>   # replay one counterexample
 *
 * - WSSUP_FUZZ_RUNS: a multiplier of each property's own numRuns (default 1, so CI runs
 *   exactly what the file says); the test's timeout and time limit scale with it.
 * - WSSUP_FUZZ_SEED: the seed (default: a fresh one per run, printed before the run starts,
 *   so that even a run killed by a timeout can be replayed).
 * - WSSUP_FUZZ_PATH: with the seed, replays the shrunk counterexample a failure printed,
 *   and stops at its first failure.
 * FC_SEED and FC_PATH, the names test/property/ read before, still work.
 *
 * A failure's message ends with the exact command line that replays it.
 */
import fc from 'fast-check';

export interface FuzzSettings {
  multiplier: number;
  seed: number;
  /** Whether the seed came from the environment. */
  seedGiven: boolean;
  path: string | undefined;
}

function positiveNumber(name: string, raw: string): number {
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, not ${raw}`);
  return value;
}

/** Reads the fuzzing settings from `env` (exported for its own test). */
export function fuzzSettings(env: NodeJS.ProcessEnv = process.env): FuzzSettings {
  const runs = env.WSSUP_FUZZ_RUNS;
  const seedRaw = env.WSSUP_FUZZ_SEED ?? env.FC_SEED;
  const path = env.WSSUP_FUZZ_PATH ?? env.FC_PATH;
  let seed: number;
  if (seedRaw === undefined || seedRaw === '') {
    // As fast-check draws its own, but known here, so it can be printed before the run.
    seed = (Date.now() ^ Math.floor(Math.random() * 0x1_0000_0000)) | 0;
  } else {
    seed = Number(seedRaw);
    if (!Number.isInteger(seed)) throw new Error(`WSSUP_FUZZ_SEED must be an integer, not ${seedRaw}`);
  }
  if (path !== undefined && path !== '' && (seedRaw === undefined || seedRaw === ''))
    throw new Error(
      'WSSUP_FUZZ_PATH replays a counterexample only with the WSSUP_FUZZ_SEED it was found with',
    );
  return {
    multiplier: runs === undefined || runs === '' ? 1 : positiveNumber('WSSUP_FUZZ_RUNS', runs),
    seed,
    seedGiven: seedRaw !== undefined && seedRaw !== '',
    path: path === undefined || path === '' ? undefined : path,
  };
}

const settings = fuzzSettings();

/** A test's timeout (ms), scaled with WSSUP_FUZZ_RUNS. */
export function fuzzTimeout(ms: number): number {
  return Math.ceil(ms * Math.max(1, settings.multiplier));
}

/**
 * fast-check parameters for one property: `base` (its CI numRuns, time limits and so on),
 * with numRuns and time limits scaled, the seed chosen and printed, and a failure's report
 * followed by the command line that replays it.
 *
 * @param file the test file, for the replay command (pass `import.meta.url` or a path)
 */
export function fuzzParameters<T>(file: string, base: fc.Parameters<T> = {}): fc.Parameters<T> {
  const { multiplier, seed, path } = settings;
  const numRuns = Math.max(1, Math.round((base.numRuns ?? 100) * multiplier));
  const scale = (ms: number | undefined) =>
    ms === undefined ? undefined : Math.ceil(ms * Math.max(1, multiplier));
  const where = file.replace(/^file:\/\//, '').replace(/^.*?\/(test\/)/, '$1');
  console.log(
    `[fuzz] ${where}: seed ${seed}, ${numRuns} runs${path === undefined ? '' : `, replaying path ${path}`}`,
  );
  const interrupt = scale(base.interruptAfterTimeLimit);
  const skip = scale(base.skipAllAfterTimeLimit);
  return {
    ...base,
    numRuns,
    seed,
    ...(interrupt === undefined ? {} : { interruptAfterTimeLimit: interrupt }),
    ...(skip === undefined ? {} : { skipAllAfterTimeLimit: skip }),
    ...(path === undefined ? {} : { path, endOnFailure: true }),
    asyncReporter: async (details) => {
      if (!details.failed) return;
      const report = (await fc.asyncDefaultReportMessage(details)) ?? 'the property failed';
      const replay =
        details.counterexamplePath === null
          ? `WSSUP_FUZZ_SEED=${details.seed} npx vitest run ${where}`
          : `WSSUP_FUZZ_SEED=${details.seed} WSSUP_FUZZ_PATH="${details.counterexamplePath}" npx vitest run ${where}`;
      throw new Error(`${report}\n\nReplay it with:\n  ${replay}`, { cause: details.errorInstance });
    },
  };
}
