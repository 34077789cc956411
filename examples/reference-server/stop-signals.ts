/**
 * SIGINT, SIGTERM and SIGHUP for the reference server (issue 13, item 1).
 *
 * A terminal's Ctrl-C goes to the whole foreground process group, and
 * systemd's default KillMode sends SIGTERM to the whole control group: under
 * `npm start` both npm and node get the signal, and npm forwards its copy to
 * node. So node sees the same stop twice, a few milliseconds apart. With a
 * `process.once` handler the second copy found no listener and killed the
 * process mid-drain (clients saw 1006 instead of 1001).
 *
 *   first signal ──▶ drain ─────────────── echoWindowMs ──▶ "send it again to stop now"
 *                    │ more signals in here: the same stop, ignored
 *                    └─ after the window: a signal forces the exit (onForce), or once
 *                       drained(), is only told (onAfterDrain): nothing is left to drain or force
 *
 * The listeners stay for the life of the process (a signal listener does not
 * keep Node running), so a copy that arrives late, even after a fast drain,
 * never meets Node's default handler. The window's one timer is owned here
 * and unref'd, so it never delays the exit; dispose() clears it.
 *
 * The window is over when its timer fires, and only then: the timer is what
 * says "send it again to stop now" (onArmed), so a signal sent the moment that
 * line appears must force. A clock read in the handler disagreed with the
 * timer by a millisecond (libuv's timers keep whole milliseconds): a loaded
 * CI's test sent the second SIGTERM as soon as it read the line, the handler
 * still found itself inside the window, ignored it as a copy, and the process
 * drained on for its whole deadline.
 *
 * SIGHUP is a stop too: the terminal that ran the server was closed, or the
 * session that started it (ssh, tmux) ended, and some process managers send
 * it. Node's default for it is to die at once: no 1001 for the clients, and
 * in cluster mode the slots and the lease were left for the reaper.
 */
/** Copies of a stop signal that arrive within this long of the first one are the same stop. */
export const SIGNAL_ECHO_WINDOW_MS = 500;

export interface StopSignalsOptions {
  /** @default SIGNAL_ECHO_WINDOW_MS */
  echoWindowMs?: number;
  /** The window is over and the drain goes on: from now on a signal forces the exit. */
  onArmed(signal: NodeJS.Signals): void;
  /** A deliberate second signal, sent after the window. */
  onForce(signal: NodeJS.Signals): void;
  /**
   * A signal after the window once the drain is over (drained()): nothing is left to force. A
   * wrapper's late copy of the one stop (npm, a process manager) landed here while the process
   * was exiting, and onForce said "exiting now without draining 0 connection(s)" after
   * "drained; bye".
   */
  onAfterDrain(signal: NodeJS.Signals): void;
}

export interface StopSignals {
  /** Resolves with the first SIGINT, SIGTERM or SIGHUP. */
  readonly first: Promise<NodeJS.Signals>;
  /** The first signal, once it came (synchronously: before `first`'s callbacks run). */
  received(): NodeJS.Signals | undefined;
  /** The drain is over: onArmed is not called. Copies within the window are still ignored; a later signal goes to onAfterDrain. */
  drained(): void;
  /** Removes the listeners (and the window's timer): the process never served, nothing is left to stop. */
  dispose(): void;
}

const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

export function watchStopSignals(options: StopSignalsOptions): StopSignals {
  const { echoWindowMs = SIGNAL_ECHO_WINDOW_MS } = options;
  let firstSignal: NodeJS.Signals | undefined;
  let window: NodeJS.Timeout | undefined;
  let windowOver = false;
  let isDrained = false;
  let resolveFirst: (signal: NodeJS.Signals) => void = () => {};
  const first = new Promise<NodeJS.Signals>((resolve) => {
    resolveFirst = resolve;
  });

  const onSignal = (signal: NodeJS.Signals) => {
    if (firstSignal === undefined) {
      firstSignal = signal;
      window = setTimeout(() => {
        window = undefined;
        windowOver = true;
        // Drained already: there is nothing left to force, so nothing to announce.
        if (!isDrained) options.onArmed(signal);
      }, echoWindowMs);
      window.unref();
      resolveFirst(signal);
    } else if (windowOver) {
      if (isDrained) options.onAfterDrain(signal);
      else options.onForce(signal);
    }
    // Otherwise: the same stop delivered twice (process group, npm's forwarding).
  };

  for (const signal of STOP_SIGNALS) process.on(signal, onSignal);
  return {
    first,
    received: () => firstSignal,
    drained: () => {
      isDrained = true;
    },
    dispose() {
      isDrained = true;
      clearTimeout(window);
      window = undefined;
      for (const signal of STOP_SIGNALS) process.off(signal, onSignal);
    },
  };
}
