/**
 * What the tests of `ws-supervisor chart` share (cli.test.ts, readme-claims-charts.test.ts):
 * the built program run as its own process, as a user runs it, and a directory for its output.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runProgram } from '../helpers/process.js';
import { afterThisTest } from '../helpers/test-scope.js';

/** The machines the README's `--machine` list names, in its order (the chart names of `charts`). */
export const chartNames = [
  'connection',
  'supervisor',
  'hub',
  'lease',
  'watchdog',
  'refusal',
  'client',
  'dashboard',
] as const;

/** The built program (npm test builds first). */
export const cli = 'dist/src/cli.js';

/** Runs the program with `args`: its exit code, its stdout, and all it printed. */
export async function run(args: string[]) {
  const program = runProgram(cli, args);
  let stdout = '';
  program.child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  const code = await program.exited;
  return { code, stdout, output: program.output() };
}

/** A new directory, removed after the test (the one that asked for it, also among concurrent tests). */
export function temporaryDirectory(): string {
  const directory = mkdtempSync(join(tmpdir(), 'ws-supervisor-chart-'));
  afterThisTest(() => rmSync(directory, { recursive: true, force: true }));
  return directory;
}
