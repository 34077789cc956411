/**
 * The outage helpers' pause() (test/helpers/redis-server.ts) resolves once the
 * SIGSTOP took effect, which it learns from processState(): /proc on Linux, and
 * `ps` where there is no /proc (macOS), which used to be a blind 50 ms wait.
 * Both ways are asked here about the same process (Linux has ps too).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { describe, expect, it, onTestFinished } from 'vitest';
import { processState } from '../helpers/redis-server.js';

/** Polls until the state is `wanted` (a signal takes effect asynchronously); resolves with the last state. */
async function stateBecomes(pid: number, procfs: boolean, wanted: (state: string | undefined) => boolean) {
  const deadline = Date.now() + 5_000;
  let state = await processState(pid, procfs);
  while (!wanted(state) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    state = await processState(pid, procfs);
  }
  return state;
}

const ways = [
  ...(existsSync('/proc/self/stat') ? [{ name: '/proc', procfs: true }] : []),
  { name: 'ps (no /proc)', procfs: false },
];

describe.each(ways)('processState through $name', ({ procfs }) => {
  it("is 'T' while a process is stopped, something else once continued, and undefined once it is gone", async () => {
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    onTestFinished(() => void child.kill('SIGKILL'));
    await once(child, 'spawn');
    const pid = child.pid as number;

    expect(await stateBecomes(pid, procfs, (state) => state !== undefined && state !== 'T')).toMatch(
      /^[^T]$/,
    );
    child.kill('SIGSTOP');
    expect(await stateBecomes(pid, procfs, (state) => state === 'T')).toBe('T');
    child.kill('SIGCONT');
    expect(await stateBecomes(pid, procfs, (state) => state !== 'T')).toMatch(/^[^T]$/);

    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited; // reaped by Node: no zombie left to report
    expect(await processState(pid, procfs)).toBeUndefined();
  });
});
