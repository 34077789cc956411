/**
 * bench/RESULTS.md tells readers to run the bench programs by hand, so each
 * one answers `--help`, and a mistyped flag or a number that is not one gets
 * a one-line message and the usage (exit 2), not a stack trace or a run on NaN.
 * They read it with the examples' parser (examples/reference-server/command-line.ts),
 * so the message reads `error: …` as every example's does.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { readPage } from '../helpers/docs.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

const programs = [
  'run',
  'soak',
  'scale',
  'admission',
  'steps',
  'machine-jitter',
  'xstate-floor',
  'close-refusal',
  'cluster',
  'cluster-tail',
  'cluster-soak',
  'profile-summary',
  'broadcast-stall',
];

/** Runs a built bench program to its end (each of these ends at once); its exit code and what it printed. */
function run(
  program: string,
  args: string[],
): Promise<{ code: number | null; output: string; errors: string }> {
  const script = `dist/bench/${program}.js`;
  if (!existsSync(`${root}${script}`))
    throw new Error(`${script} is missing: run "npm run build" first (npm test does)`);
  return new Promise((resolve) => {
    // execFile, not the helpers' runProgram: its clean-up belongs to one test at a time, and these run concurrently.
    // The timeout is a hang guard only: five node processes at once on a loaded machine took past 15 s.
    execFile(process.execPath, [script, ...args], { cwd: root, timeout: 60_000 }, (error, output, errors) => {
      resolve({
        code: error === null ? 0 : typeof error.code === 'number' ? error.code : null,
        output,
        errors,
      });
    });
  });
}

describe.concurrent('the bench programs on the command line', { timeout: 90_000 }, () => {
  for (const program of programs) {
    it(`${program} --help prints its usage and exits 0`, async () => {
      const { code, output } = await run(program, ['--help']);
      expect(code).toBe(0);
      expect(output).toMatch(/^Usage: /);
    });

    it(`${program} refuses an unknown flag with its usage, exit 2, no stack trace`, async () => {
      const { code, errors } = await run(program, ['--no-such-flag']);
      expect(code).toBe(2);
      expect(errors).toMatch(/^error: Unknown option '--no-such-flag'/);
      expect(errors).toContain('Usage: ');
      expect(errors).not.toMatch(/^\s+at /m);
    });

    // A stray argument is often half of a secret (a value with a space left unquoted): named by
    // its place, never quoted, as the reference server names it. profile-summary takes a file.
    it.skipIf(program === 'profile-summary')(
      `${program} refuses a stray argument by its place, never quoting it`,
      async () => {
        const { code, errors } = await run(program, ['half-of-a-s3cret']);
        expect(code).toBe(2);
        expect(errors).toMatch(/^error: unexpected argument 1 \(not shown: it may be a secret\): /);
        expect(errors).toContain('Usage: ');
        expect(errors).not.toContain('s3cret');
      },
    );
  }

  it('names the flag whose value a stray argument follows (a value with a space left unquoted)', async () => {
    const { code, errors } = await run('run', ['--quick', '--only', 'churn', 's3cret']);
    expect(code).toBe(2);
    expect(errors).toMatch(
      /^error: unexpected argument 4, after the value of --only \(not shown: it may be a secret\): this command takes no positional arguments; quote a value that has spaces$/m,
    );
    expect(errors).not.toContain('s3cret');
  });

  it('refuses a count that is not a number instead of running on NaN', async () => {
    const { code, errors } = await run('machine-jitter', ['--samples', 'many']);
    expect(code).toBe(2);
    expect(errors).toMatch(/^error: --samples must be a number ≥ 1, not "many"/);
  });

  it('refuses a benchmark it does not have, naming the ones it has', async () => {
    const { code, errors } = await run('run', ['--only', 'churn,chrun']);
    expect(code).toBe(2);
    expect(errors).toMatch(/^error: --only: unknown benchmark "chrun"; choose from memory, churn,/);
  });

  it('the Performance section (docs/internals.md) names the benchmarks and server kinds it takes', async () => {
    const readme = readPage('docs/internals.md');
    const listed = (line: RegExp) => (readme.match(line)?.[1] ?? '').split(',').map((name) => name.trim());
    const only = (await run('run', ['--only', 'none'])).errors;
    const kinds = (await run('run', ['--kinds', 'none'])).errors;
    const taken = (errors: string) => (/choose from (.*)$/m.exec(errors)?.[1] ?? '').split(', ');
    expect(listed(/--only churn,memory +# any of: ([^(\n]*)/)).toEqual(taken(only));
    expect(listed(/--kinds (\S+) +#/)).toEqual(expect.arrayContaining(taken(kinds)));
    expect(taken(kinds)).toHaveLength(4);
  });

  it('refuses a list of counts with a word in it', async () => {
    const { code, errors } = await run('run', ['--only', 'churn', '--concurrency', '50,lots']);
    expect(code).toBe(2);
    expect(errors).toMatch(/^error: --concurrency takes counts like 50,200, not "50,lots"/);
  });
});
