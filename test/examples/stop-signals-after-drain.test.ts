/**
 * A stop signal that arrives after the drain is over (a wrapper's late copy of the one SIGTERM,
 * while the process finishes its exit) forced nothing: the log said `drained; bye`, then
 * `SIGTERM again: exiting now without draining 0 connection(s)`. watchStopSignals tells it apart
 * from a signal sent mid-drain. Its own listeners are called as Node calls them on a signal:
 * a real signal, or process.emit, would run every listener of the test worker too (vitest's fork
 * worker adds one for SIGTERM, and a file sharing the worker may have left one).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it, onTestFinished } from 'vitest';
import {
  SIGNAL_ECHO_WINDOW_MS,
  type StopSignalsOptions,
  watchStopSignals,
} from '../../examples/reference-server/stop-signals.js';
import { runCommand } from '../helpers/process.js';

const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * watchStopSignals with `options`, and `deliver(signal)`, which calls the listeners it added for
 * `signal` (those process has now and had not before), as Node would on that signal.
 */
function watchOwn(options: StopSignalsOptions) {
  const before = new Map(STOP_SIGNALS.map((signal) => [signal, process.listeners(signal)]));
  const signals = watchStopSignals(options);
  onTestFinished(() => signals.dispose());
  const added = new Map(
    STOP_SIGNALS.map((signal) => [
      signal,
      process.listeners(signal).filter((listener) => !before.get(signal)?.includes(listener)),
    ]),
  );
  const deliver = (signal: (typeof STOP_SIGNALS)[number]) => {
    const own = added.get(signal) ?? [];
    expect(own).toHaveLength(1);
    for (const listener of own) listener(signal);
  };
  return { signals, deliver };
}

function watch() {
  const told: string[] = [];
  const { signals, deliver } = watchOwn({
    echoWindowMs: 0, // over at the next turn of the timers (pastWindow)
    onArmed: () => {},
    onForce: (signal) => void told.push(`force ${signal}`),
    onAfterDrain: (signal) => void told.push(`after drain ${signal}`),
  });
  return { signals, deliver, told };
}

/** The window is over when its timer fires (a 0 ms timer: the next turn of the timers). */
const pastWindow = () => sleep(5);

describe('a stop signal after the first', () => {
  it('mid-drain forces the exit', async () => {
    const { signals, deliver, told } = watch();
    deliver('SIGTERM');
    expect(await signals.first).toBe('SIGTERM');
    await pastWindow();
    deliver('SIGTERM');
    expect(told).toEqual(['force SIGTERM']);
  });

  it('once drained is not a forced exit: nothing is left to drain', async () => {
    const { signals, deliver, told } = watch();
    deliver('SIGTERM');
    expect(await signals.first).toBe('SIGTERM');
    signals.drained();
    await pastWindow();
    deliver('SIGTERM');
    deliver('SIGINT');
    expect(told).toEqual(['after drain SIGTERM', 'after drain SIGINT']);
  });

  it('once drained, a copy within the window is still the same stop, ignored', async () => {
    const told: string[] = [];
    const { signals, deliver } = watchOwn({
      echoWindowMs: 60_000,
      onArmed: () => {},
      onForce: (signal) => void told.push(`force ${signal}`),
      onAfterDrain: (signal) => void told.push(`after drain ${signal}`),
    });
    deliver('SIGHUP');
    await signals.first;
    signals.drained();
    deliver('SIGHUP');
    expect(told).toEqual([]);
  });
});

/**
 * The same in the built CLI (`ws-supervisor serve`), where the listeners stay for the process's
 * life: a signal's default action is gone. Something that held the process after the drain (here
 * a timer of a module loaded with --import, as an app's module or an agent's may) left it
 * running for good after "SIGTERM again: already drained; exiting": only SIGKILL stopped it.
 */
describe('the CLI, held open after the drain, told to stop again', () => {
  it.for<[string, NodeJS.ProcessEnv]>([
    ['a timer that would end on its own, later', { HOLD_OPEN_MS: '60000' }],
    ['an interval that never ends', {}],
  ])("%s: exits with the drain's code, 0, after saying so", { timeout: 30_000 }, async ([, env]) => {
    const program = runCommand(
      process.execPath,
      [
        '--import',
        './test/fixtures/hold-open.mjs',
        'dist/src/cli.js',
        'serve',
        '--port',
        '0',
        '--preset',
        'test',
      ],
      env,
    );
    await program.waitFor(/listening on ws:\/\/127\.0\.0\.1:\d+/);
    program.child.kill('SIGTERM');
    await program.waitFor(/drained; bye/);
    await sleep(SIGNAL_ECHO_WINDOW_MS + 100); // past the window: not a copy of the first
    expect(program.child.exitCode).toBeNull(); // held open: the fixture's timer
    program.child.kill('SIGTERM');
    await program.waitFor(/SIGTERM again: already drained; exiting/);
    const aborted = new AbortController();
    onTestFinished(() => aborted.abort());
    const bound = sleep(15_000, 'still running', { signal: aborted.signal }).catch(() => 'aborted');
    expect(await Promise.race([program.exited, bound])).toBe(0);
    expect(program.output()).not.toMatch(/without draining/);
    expect(program.output().match(/already drained; exiting/g)).toHaveLength(1);
  });
});
