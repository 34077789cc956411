/**
 * A manual clock that knows which actor scheduled each timer, so a test can
 * let exactly one actor's delay elapse: `fire(connectionId, idleTimeoutMs)`.
 *
 * XState's scheduler records each delayed event (with its source actor) in
 * the system's snapshot just before it asks the clock for a timer, so the
 * newest recorded event names the timer's owner. `observe` (fed the
 * inspection stream) is how the clock finds the system.
 */
import type { AnyActorRef, InspectionEvent } from 'xstate';

interface ScheduledEvent {
  source: AnyActorRef;
}
interface SystemView {
  getSnapshot(): { _scheduledEvents: Record<string, ScheduledEvent> };
}

interface Timer {
  fn: () => void;
  ms: number;
  owner: string | undefined;
  machine: string | undefined;
}

export class ActorClock {
  #now = 0;
  #seq = 0;
  readonly #timers = new Map<number, Timer>();
  #system: SystemView | undefined;

  readonly observe = (event: InspectionEvent): void => {
    this.#system ??= (event.actorRef as unknown as { system: SystemView }).system;
  };

  /** The actor whose delayed event the scheduler recorded last. */
  #newestScheduler(): AnyActorRef | undefined {
    const scheduled = Object.values(this.#system?.getSnapshot()._scheduledEvents ?? {});
    return scheduled[scheduled.length - 1]?.source;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): number {
    this.#seq += 1;
    const owner = this.#newestScheduler();
    this.#timers.set(this.#seq, {
      fn,
      ms,
      owner: owner?.id,
      machine: (owner as { logic?: { id?: string } } | undefined)?.logic?.id,
    });
    return this.#seq;
  }

  clearTimeout(id: number): void {
    this.#timers.delete(id);
  }

  /** Timers pending for `owner` (an actor id), or for everyone. */
  pending(owner?: string): Array<{ ms: number; owner: string | undefined }> {
    return [...this.#timers.values()]
      .filter((timer) => owner === undefined || timer.owner === owner)
      .map(({ ms, owner: o }) => ({ ms, owner: o }));
  }

  /**
   * Lets the one pending `ms` delay of the actor `owner` (an actor id, or a
   * machine id such as `hub`) elapse now. Throws when there is not exactly one:
   * a path that expects a delay the actor has not scheduled is a failed path.
   */
  fire(owner: string, ms: number): void {
    const matches = [...this.#timers].filter(
      ([, timer]) => (timer.owner === owner || timer.machine === owner) && timer.ms === ms,
    );
    if (matches.length !== 1) {
      const pending = this.pending()
        .map((t) => `${t.owner}:${t.ms}ms`)
        .join(', ');
      throw new Error(
        `expected one pending ${ms} ms delay of ${owner}, found ${matches.length} (pending: ${pending || 'none'})`,
      );
    }
    const [id, timer] = matches[0] as [number, Timer];
    this.#timers.delete(id);
    this.#now += timer.ms;
    timer.fn();
  }
}
