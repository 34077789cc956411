import { ERROR_KIND } from '../error-brand.js';
import { SupervisorError } from '../errors.js';

/**
 * A {@link TestApp}'s `close()` found, once the app had shut down, that the supervisor
 * still held something (`leaks`, from {@link leaksOf}), or that a client of `open()` had
 * a socket error that no wait of its inbox read (`socketErrors`, each naming its client:
 * `#2 ws://127.0.0.1:…/?token=bob: Max payload size exceeded`). The message lists both.
 */
export class TestLeakError extends SupervisorError {
  static override readonly [ERROR_KIND]: string = 'TestLeakError';
  /** Always `WSSUP_TEST_LEAKED`. */
  declare readonly code: 'WSSUP_TEST_LEAKED';
  /** What the supervisor still held, one sentence each, as {@link leaksOf} gives them (`[]`: none). */
  readonly leaks: readonly string[];
  /** The socket errors of `open()`'s clients that no wait read, `'<client>: <message>'` each (`[]`: none). */
  readonly socketErrors: readonly string[];

  constructor(leaks: readonly string[], socketErrors: readonly string[]) {
    const lines = [
      ...leaks.map((leak) => `leaked: ${leak}`),
      ...socketErrors.map((error) => `socket error no wait read: ${error}`),
    ];
    super('WSSUP_TEST_LEAKED', `serveForTest close(): after the shutdown\n${lines.join('\n')}`);
    this.name = 'TestLeakError';
    this.leaks = Object.freeze([...leaks]);
    this.socketErrors = Object.freeze([...socketErrors]);
  }
}

/**
 * A {@link TestApp}'s `close()` on a simulated clock moved the clock 100 times (ten
 * `drainTimeoutMs`), and `shutdown()` had still not resolved: something holds it that no
 * clock move ends. `stillConnected` names the clients of `open()` whose TCP connection
 * the server has not closed.
 */
export class ShutdownStuckError extends SupervisorError {
  static override readonly [ERROR_KIND]: string = 'ShutdownStuckError';
  /** Always `WSSUP_TEST_SHUTDOWN_STUCK`. */
  declare readonly code: 'WSSUP_TEST_SHUTDOWN_STUCK';
  /** The clients of `open()` still connected, by name (`#1 ws://…`); `[]` when none is. */
  readonly stillConnected: readonly string[];
  /**
   * The simulated ms that `close()` moved the clock before it gave up (its `now()` then, less
   * its `now()` when `close()` began: not counting the test's own moves before).
   */
  readonly simulatedMs: number;

  constructor(stillConnected: readonly string[], simulatedMs: number) {
    super(
      'WSSUP_TEST_SHUTDOWN_STUCK',
      `serveForTest close(): shutdown() has not resolved after close() moved the clock ${simulatedMs} ms; ` +
        `open()'s clients still connected: ${stillConnected.join(', ') || 'none'}`,
    );
    this.name = 'ShutdownStuckError';
    this.stillConnected = Object.freeze([...stillConnected]);
    this.simulatedMs = simulatedMs;
  }
}
