/**
 * The soaks of `npm test` run a built bench program (dist/bench/) in a process of its own,
 * as they need `node --expose-gc`, and read its verdict from the last line it prints (JSON).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type RunningProgram, runCommand } from '../helpers/process.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** Starts `node --expose-gc <script> ...args`; throws, naming the fix, when it is not built. */
export function startSoak(script: string, args: readonly string[]): RunningProgram {
  if (!existsSync(`${root}${script}`))
    throw new Error(`${script} is missing: run "npm run build" first (npm test does)`);
  return runCommand(process.execPath, ['--expose-gc', script, ...args]);
}

/** The soak's verdict: the JSON of the last line of its output. */
export function verdictOf<T>(output: string): T {
  return JSON.parse(output.trim().split('\n').at(-1) ?? '') as T;
}
