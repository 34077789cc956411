/**
 * The deadlines of one Redis connection's commands (issue 12), without a
 * timer per command; and of every call to a `cluster.store` of the app's own
 * (store-deadlines.ts), which names its calls as `slot store <method>`.
 *
 * Every command in flight is an entry in a list, in the order it went out
 * (Redis answers in that order on one connection, so the oldest is the first
 * to be overdue). One watchdog actor (machines/store-watchdog.machine.ts)
 * ticks every `periodMs`, a quarter of the command timeout, while anything
 * is in flight; each tick fails the entries whose deadline has passed with
 * the same SlotStoreUnavailableError a timer would have. Time is counted in
 * ticks, so the watchdog's clock (an injected one in tests) is the only
 * clock involved.
 *
 * Precision: an entry is failed at the first tick after `timeoutMs` has
 * passed, that is between `timeoutMs` and `timeoutMs + periodMs` after it
 * went out (never earlier: the admission script's own deadline on Redis's
 * clock, which assumes the caller waits at least `timeoutMs`, stays safe).
 */
import { type Actor, type ActorOptions, type AnyActorLogic, createActor } from 'xstate';
import { storeWatchdogMachine } from '../../machines/store-watchdog.machine.js';
import type { Clock } from '../clock.js';
import { SlotStoreUnavailableError } from './slot-store.js';

/** How a Deadlines' errors name what did not answer, and why a call fails when it stops. */
export interface DeadlineWords {
  /** Who did not answer: `Redis`, or `slot store` (a `cluster.store` of the app's own). */
  readonly subject: string;
  /** Why what is still in flight fails at stop(). */
  readonly closing: string;
  /** Why a call made after stop() fails. */
  readonly closed: string;
}

const REDIS_WORDS: DeadlineWords = {
  subject: 'Redis',
  closing: 'the connection was closed',
  closed: 'the connection is closed',
};

/** How many ticks per command timeout: the deadline is kept to within a quarter of it. */
const TICKS_PER_TIMEOUT = 4;

interface Entry {
  /** The tick count after which it is overdue. */
  readonly due: number;
  readonly what: string;
  /** The store's script it runs, if it does: its error names it. */
  readonly script: ScriptName | undefined;
  readonly timeoutMs: number;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
  prev: Entry | undefined;
  next: Entry | undefined;
  /** Failed by the watchdog, still unanswered by Redis. */
  late: boolean;
}

export class Deadlines {
  readonly periodMs: number;
  #ticks = 0;
  #head: Entry | undefined;
  #tail: Entry | undefined;
  #overdue = 0;
  #stopped = false;
  readonly #watchdog: Actor<typeof storeWatchdogMachine>;

  /** What the errors say: see {@link DeadlineWords}. */
  readonly #words: DeadlineWords;

  constructor(
    readonly timeoutMs: number,
    clock: Clock,
    words: DeadlineWords = REDIS_WORDS,
    /** Watches the watchdog actor (its walk, test/model-based/store-watchdog.model.test.ts): a test's, given to XState as is. */
    inspect?: ActorOptions<AnyActorLogic>['inspect'],
  ) {
    this.#words = words;
    this.periodMs = Math.max(1, Math.ceil(timeoutMs / TICKS_PER_TIMEOUT));
    this.#watchdog = createActor(
      storeWatchdogMachine.provide({
        actions: { tick: () => this.#tick() },
        guards: { hasInFlight: () => this.#head !== undefined },
      }),
      { input: { periodMs: this.periodMs }, clock, ...(inspect === undefined ? {} : { inspect }) },
    );
    this.#watchdog.start();
  }

  /** Commands that timed out and are still unanswered: while any is, the connection is stuck. */
  get overdue(): number {
    return this.#overdue;
  }

  /** Nothing in flight and nothing overdue: no answer can still come for it (it may be dropped). */
  get idle(): boolean {
    return this.#head === undefined && this.#overdue === 0;
  }

  /** Whether stop() was called. */
  get stopped(): boolean {
    return this.#stopped;
  }

  /**
   * Settles like `promise`, or rejects with a SlotStoreUnavailableError once
   * `timeoutMs` has passed; any other rejection becomes one too. `script`: the store's
   * script the command runs, named by the error (its `script`; `what` says it in words).
   */
  watch<T>(promise: Promise<T>, what: string, timeoutMs = this.timeoutMs, script?: ScriptName): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.#stopped) {
        // Its rejection (the socket's end) is expected now: not an unhandled one.
        promise.catch(() => {});
        reject(unavailable(this.#words.subject, what, script, this.#words.closed));
        return;
      }
      const entry: Entry = {
        due: this.#ticks + Math.ceil(timeoutMs / this.periodMs),
        what,
        script,
        timeoutMs,
        resolve: resolve as (value: unknown) => void,
        reject,
        prev: this.#tail,
        next: undefined,
        late: false,
      };
      if (this.#tail === undefined) {
        this.#head = entry;
        // Only on the edge from nothing in flight: the watchdog may still be
        // watching (it goes idle at its next tick), then it needs no wake-up.
        if (this.#watchdog.getSnapshot().value === 'idle') this.#watchdog.send({ type: 'WATCH' });
      } else {
        this.#tail.next = entry;
      }
      this.#tail = entry;
      promise.then(
        (value) => this.#answered(entry, value),
        (error: unknown) => this.#failed(entry, error),
      );
    });
  }

  /** Stops the watchdog, failing what is still in flight (the connection is closing). */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#watchdog.stop();
    while (this.#head !== undefined) {
      const entry = this.#head;
      this.#expire(entry, unavailable(this.#words.subject, entry.what, entry.script, this.#words.closing));
    }
  }

  #answered(entry: Entry, value: unknown): void {
    if (entry.late) {
      this.#overdue -= 1;
      return;
    }
    this.#unlink(entry);
    entry.resolve(value);
  }

  #failed(entry: Entry, error: unknown): void {
    if (entry.late) {
      this.#overdue -= 1;
      return;
    }
    this.#unlink(entry);
    entry.reject(
      error instanceof SlotStoreUnavailableError
        ? error
        : unavailable(this.#words.subject, entry.what, entry.script, messageOf(error), error),
    );
  }

  #tick(): void {
    this.#ticks += 1;
    // All entries, not only up to the first one still in time: a connect's
    // deadline is longer than a command's, so the list is not sorted by due
    // tick. It holds the commands in flight: a handful at a time.
    let entry = this.#head;
    while (entry !== undefined) {
      const next = entry.next;
      if (this.#ticks > entry.due) {
        this.#expire(
          entry,
          unavailable(
            this.#words.subject,
            entry.what,
            entry.script,
            `no answer within ${entry.timeoutMs} ms`,
          ),
        );
      }
      entry = next;
    }
  }

  /** Fails an entry before Redis answered it: counted overdue until the answer (or the socket's end) comes. */
  #expire(entry: Entry, error: SlotStoreUnavailableError): void {
    this.#unlink(entry);
    entry.late = true;
    this.#overdue += 1;
    entry.reject(error);
  }

  #unlink(entry: Entry): void {
    if (entry.prev === undefined) this.#head = entry.next;
    else entry.prev.next = entry.next;
    if (entry.next === undefined) this.#tail = entry.prev;
    else entry.next.prev = entry.prev;
    entry.prev = undefined;
    entry.next = undefined;
  }
}

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** A script as its command's error names it: which of the store's operations failed. */
export interface ScriptName {
  readonly name: string;
  readonly operation: string;
}

/**
 * How an error names a command: `EVALSHA of the admit script (an admission)` for one that
 * runs a script (under an ACL that denies a command, the operator learns which operation
 * needs the rule: Redis's reply names only EVALSHA, or the command the script called).
 * Built only when the command fails, never on the way out.
 */
export const commandLabel = (what: string, script: ScriptName | undefined): string =>
  script === undefined ? what : `${what} of the ${script.name} script (${script.operation})`;

function unavailable(
  subject: string,
  what: string,
  script: ScriptName | undefined,
  why: string,
  cause?: unknown,
): SlotStoreUnavailableError {
  const options = { script: script?.name, ...(cause === undefined ? {} : { cause }) };
  return new SlotStoreUnavailableError(`${subject} ${commandLabel(what, script)}: ${why}`, options);
}
