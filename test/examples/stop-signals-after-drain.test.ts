/**
 * A stop signal that arrives after the drain is over (a wrapper's late copy of the one SIGTERM,
 * while the process finishes its exit) forced nothing: the log said `drained; bye`, then
 * `SIGTERM again: exiting now without draining 0 connection(s)`. watchStopSignals tells it apart
 * from a signal sent mid-drain. Its listeners are called as Node calls them on a signal
 * (process.emit): a real signal would reach the test runner too.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { watchStopSignals } from '../../examples/reference-server/stop-signals.js';

function watch() {
  const told: string[] = [];
  const signals = watchStopSignals({
    echoWindowMs: 0, // every signal after the first is past the window
    onArmed: () => {},
    onForce: (signal) => void told.push(`force ${signal}`),
    onAfterDrain: (signal) => void told.push(`after drain ${signal}`),
  });
  onTestFinished(() => signals.dispose());
  return { signals, told };
}

describe('a stop signal after the first', () => {
  it('mid-drain forces the exit', async () => {
    const { signals, told } = watch();
    process.emit('SIGTERM', 'SIGTERM');
    expect(await signals.first).toBe('SIGTERM');
    process.emit('SIGTERM', 'SIGTERM');
    expect(told).toEqual(['force SIGTERM']);
  });

  it('once drained is not a forced exit: nothing is left to drain', async () => {
    const { signals, told } = watch();
    process.emit('SIGTERM', 'SIGTERM');
    expect(await signals.first).toBe('SIGTERM');
    signals.drained();
    process.emit('SIGTERM', 'SIGTERM');
    process.emit('SIGINT', 'SIGINT');
    expect(told).toEqual(['after drain SIGTERM', 'after drain SIGINT']);
  });

  it('once drained, a copy within the window is still the same stop, ignored', async () => {
    const told: string[] = [];
    const signals = watchStopSignals({
      echoWindowMs: 60_000,
      onArmed: () => {},
      onForce: (signal) => void told.push(`force ${signal}`),
      onAfterDrain: (signal) => void told.push(`after drain ${signal}`),
    });
    onTestFinished(() => signals.dispose());
    process.emit('SIGHUP', 'SIGHUP');
    await signals.first;
    signals.drained();
    process.emit('SIGHUP', 'SIGHUP');
    expect(told).toEqual([]);
  });
});
