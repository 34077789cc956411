/**
 * The server's `error <code>: <message>` lines, at most one per code per window.
 *
 * A herd (every client of a restarted node reconnecting at once) can fail many
 * admissions together: with Redis answering late, each one in flight is
 * reported to onError on its own before the breaker opens. One line each made
 * the log as loud as the storm (502 lines for 1,000 clients coming back). The
 * first of a code is printed at once; the rest of its window are counted and
 * told in one line when the window ends, or at close(), so none goes untold.
 */
export interface ErrorLog {
  report(code: string, message: string): void;
  /** Tells what is still counted and cancels the windows' timers. Idempotent. */
  close(): void;
}

export function createErrorLog(log: (line: string) => void, windowMs = 10_000): ErrorLog {
  // Per code: how many were left out since its line, and the timer that ends its window.
  const windows = new Map<string, { leftOut: number; timer: ReturnType<typeof setTimeout> }>();
  let closed = false;
  const end = (code: string) => {
    const window = windows.get(code);
    if (window === undefined) return;
    clearTimeout(window.timer);
    windows.delete(code);
    if (window.leftOut > 0) {
      log(
        `error ${code}: ${window.leftOut} more of this code, not printed (one line per code per ${windowMs / 1000} s)`,
      );
    }
  };
  return {
    report(code, message) {
      // Once closed, no timer is left to end a window: every line goes out as it comes.
      if (closed) return log(`error ${code}: ${message}`);
      const window = windows.get(code);
      if (window !== undefined) {
        window.leftOut += 1;
        return;
      }
      log(`error ${code}: ${message}`);
      windows.set(code, { leftOut: 0, timer: setTimeout(() => end(code), windowMs) });
    },
    close() {
      closed = true;
      for (const code of [...windows.keys()]) end(code);
    },
  };
}
