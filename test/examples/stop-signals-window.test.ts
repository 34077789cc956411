/**
 * The echo window of watchStopSignals ends when its timer says so (onArmed: "send it again to stop
 * now"), not by a clock read in the signal handler. The two disagreed by a millisecond (libuv's
 * timers keep whole milliseconds): a loaded clean-clone CI sent the second SIGTERM as soon as it
 * read that line, the handler found itself still inside the window and ignored it as a copy of
 * the first, and the process drained on for its whole deadline and exited 0, not 143.
 *
 * Only setTimeout is faked: performance.now() keeps real time, so the window's timer fires long
 * before 500 ms of real time have passed, as its line came a millisecond early on that machine.
 */
import { afterEach, beforeEach, describe, expect, it, onTestFinished, vi } from 'vitest';
import { SIGNAL_ECHO_WINDOW_MS, watchStopSignals } from '../../examples/reference-server/stop-signals.js';

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
});
afterEach(() => {
  vi.useRealTimers();
});

/** watchStopSignals, and `deliver(signal)`: calls its own SIGTERM listener as Node would. */
function watch() {
  const told: string[] = [];
  const before = process.listeners('SIGTERM');
  const signals = watchStopSignals({
    onArmed: (signal) => void told.push(`armed ${signal}`),
    onForce: (signal) => void told.push(`force ${signal}`),
    onAfterDrain: (signal) => void told.push(`after drain ${signal}`),
  });
  onTestFinished(() => signals.dispose());
  const own = process.listeners('SIGTERM').filter((listener) => !before.includes(listener));
  expect(own).toHaveLength(1);
  const deliver = () => (own[0] as (signal: NodeJS.Signals) => void)('SIGTERM');
  return { signals, deliver, told };
}

describe('the echo window of a stop signal', () => {
  it('a signal sent the moment "send it again" is said forces the exit', () => {
    const { deliver, told } = watch();
    deliver();
    vi.advanceTimersByTime(SIGNAL_ECHO_WINDOW_MS - 1);
    deliver(); // a copy within the window: the same stop
    expect(told).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(told).toEqual(['armed SIGTERM']);
    deliver();
    expect(told).toEqual(['armed SIGTERM', 'force SIGTERM']);
  });

  it('once drained within the window: no "send it again", copies still ignored, a later signal only told', () => {
    const { signals, deliver, told } = watch();
    deliver();
    signals.drained();
    deliver();
    vi.advanceTimersByTime(SIGNAL_ECHO_WINDOW_MS);
    expect(told).toEqual([]);
    deliver();
    expect(told).toEqual(['after drain SIGTERM']);
  });
});
