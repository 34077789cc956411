/**
 * A duration that reads as seconds on real time (test/unit/duration-units.test.ts), with no
 * onError: the warning goes to console.error (onError's default) once, after createSupervisor()
 * has returned, as the InvalidOptionError itself. Its own file: it spies on console.error.
 */
import { expect, it, onTestFinished, vi } from 'vitest';
import { createSupervisor, InvalidOptionError } from '../../src/index.js';

const turn = () => new Promise((resolve) => setImmediate(resolve));

it('with no onError, idleTimeoutMs: 60 on real time is printed to console.error once', async () => {
  const printed: unknown[][] = [];
  const spy = vi.spyOn(console, 'error').mockImplementation((...args) => void printed.push(args));
  onTestFinished(() => spy.mockRestore());
  const supervisor = createSupervisor({ authenticate: () => 'user', idleTimeoutMs: 60 });
  onTestFinished(() => supervisor.shutdown());
  expect(supervisor.options.idleTimeoutMs).toBe(60);
  // Not from inside createSupervisor().
  expect(printed).toEqual([]);
  await turn();
  expect(printed).toHaveLength(1);
  const [[warning, ...rest] = []] = printed;
  expect(rest).toEqual([]);
  expect(warning).toBeInstanceOf(InvalidOptionError);
  expect(warning).toMatchObject({ code: 'WSSUP_INVALID_OPTION', option: 'idleTimeoutMs', received: 60 });
  expect((warning as InvalidOptionError).message).toContain('60, which looks like seconds: 60 s is 60_000');
  // Once: nothing more on later turns, nor at shutdown.
  await turn();
  await supervisor.shutdown();
  expect(printed).toHaveLength(1);
});
