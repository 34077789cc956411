/**
 * A stop signal that arrives after the drain is over (a wrapper's late copy of the one SIGTERM,
 * while the process finishes its exit) forced nothing: the log said `drained; bye`, then
 * `SIGTERM again: exiting now without draining 0 connection(s)`. watchStopSignals tells it apart
 * from a signal sent mid-drain. Its own listeners are called as Node calls them on a signal:
 * a real signal, or process.emit, would run every listener of the test worker too (vitest's fork
 * worker adds one for SIGTERM, and a file sharing the worker may have left one).
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { type StopSignalsOptions, watchStopSignals } from '../../examples/reference-server/stop-signals.js';

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
    echoWindowMs: 0, // every signal after the first is past the window
    onArmed: () => {},
    onForce: (signal) => void told.push(`force ${signal}`),
    onAfterDrain: (signal) => void told.push(`after drain ${signal}`),
  });
  return { signals, deliver, told };
}

describe('a stop signal after the first', () => {
  it('mid-drain forces the exit', async () => {
    const { signals, deliver, told } = watch();
    deliver('SIGTERM');
    expect(await signals.first).toBe('SIGTERM');
    deliver('SIGTERM');
    expect(told).toEqual(['force SIGTERM']);
  });

  it('once drained is not a forced exit: nothing is left to drain', async () => {
    const { signals, deliver, told } = watch();
    deliver('SIGTERM');
    expect(await signals.first).toBe('SIGTERM');
    signals.drained();
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
