/**
 * A manual clock that knows which actor scheduled each timer, and for which
 * delay, so a test can let exactly one actor's delay elapse:
 * `fire(connectionId, 'idleTimeout')` (or by length: `fire(id, 2_000)`).
 *
 * XState's scheduler records each delayed event (with its source actor and
 * the delay's event) in its system's snapshot just before it asks the clock
 * for a timer, so the newest recorded event not yet matched to a timer names
 * the timer's owner. Every user supervisor is a root actor with a system of
 * its own; `observe` (fed the inspection stream) collects them all.
 *
 * Time is absolute: a timer is due `ms` after it was set, and firing it sets
 * the clock to that moment. The test, not the clock, orders the delays (a
 * model walks them in any order), so each delay fires on its own timeline:
 * firing an earlier one after a later one sets the clock back to it, as if
 * they had fired in time order. `tick` moves the clock without firing.
 */
import type { AnyActorRef, InspectionEvent } from 'xstate';

interface ScheduledEvent {
  source: AnyActorRef;
  event: { type: string };
}
interface SystemView {
  getSnapshot(): { _scheduledEvents: Record<string, ScheduledEvent> };
}

interface Timer {
  fn: () => void;
  ms: number;
  due: number;
  /** The connection id of a connection actor, else the actor id. */
  owner: string | undefined;
  machine: string | undefined;
  /** The delay's name, e.g. `idleTimeout`. */
  delay: string | undefined;
}

/** A connection actor is known by its connection id (its actor id is a reusable slot name). */
const ownerOf = (actor: AnyActorRef): string =>
  (actor.getSnapshot() as { context?: { connectionId?: string } }).context?.connectionId ?? actor.id;

/** `xstate.after.<delay>.<state id>` → `<delay>`. */
const delayOf = (eventType: string): string | undefined =>
  eventType.startsWith('xstate.after.') ? eventType.split('.')[2] : undefined;

export class ActorClock {
  #now = 0;
  /** Added to every reading by `leap`: a firing sets the clock back to its timeline, not before a leap. */
  #leapt = 0;
  #seq = 0;
  readonly #timers = new Map<number, Timer>();
  readonly #systems = new Set<SystemView>();
  readonly #matched = new WeakSet<ScheduledEvent>();

  readonly observe = (event: InspectionEvent): void => {
    this.#systems.add((event.actorRef as unknown as { system: SystemView }).system);
  };

  /** The delayed event the scheduler recorded last and no timer claimed yet. */
  #newestScheduled(): ScheduledEvent | undefined {
    for (const system of this.#systems) {
      const scheduled = Object.values(system.getSnapshot()._scheduledEvents);
      const newest = scheduled[scheduled.length - 1];
      if (newest !== undefined && !this.#matched.has(newest)) {
        this.#matched.add(newest);
        return newest;
      }
    }
    return undefined;
  }

  now(): number {
    return this.#now + this.#leapt;
  }

  /**
   * Moves every timeline forward by `ms`, firing nothing: the pending delays fall
   * due as late as before, relative to the clock (a session's expiry passes while
   * the heartbeat waits, say).
   */
  leap(ms: number): void {
    this.#leapt += ms;
  }

  /** Moves the clock forward by `ms` without firing anything. */
  tick(ms: number): void {
    this.#now += ms;
  }

  setTimeout(fn: () => void, ms: number): number {
    this.#seq += 1;
    const scheduled = this.#newestScheduled();
    const source = scheduled?.source;
    this.#timers.set(this.#seq, {
      fn,
      ms,
      due: this.#now + ms,
      owner: source === undefined ? undefined : ownerOf(source),
      machine: (source as { logic?: { id?: string } } | undefined)?.logic?.id,
      delay: scheduled === undefined ? undefined : delayOf(scheduled.event.type),
    });
    return this.#seq;
  }

  clearTimeout(id: number): void {
    this.#timers.delete(id);
  }

  /** Timers pending for `owner` (a connection id, an actor id), or for everyone. */
  pending(owner?: string): Array<{ ms: number; owner: string | undefined; delay: string | undefined }> {
    return [...this.#timers.values()]
      .filter((timer) => owner === undefined || timer.owner === owner)
      .map(({ ms, owner: o, delay }) => ({ ms, owner: o, delay }));
  }

  /**
   * Lets the oldest pending timer of no actor that is `ms` long elapse now (an
   * upgrade's wait for an asynchronous authenticate, say). Returns false when none is.
   */
  fireOldestUnowned(ms: number): boolean {
    const match = [...this.#timers].find(([, timer]) => timer.owner === undefined && timer.ms === ms);
    if (match === undefined) return false;
    const [id, timer] = match;
    this.#timers.delete(id);
    this.#now = timer.due;
    timer.fn();
    return true;
  }

  /**
   * Lets the one pending delay of `owner` (a connection id, an actor id, or a
   * machine id such as `hub`) named `delay` (or `delay` ms long) elapse now.
   * Throws when there is not exactly one: a path that expects a delay the
   * actor has not scheduled is a failed path.
   */
  fire(owner: string, delay: number | string): void {
    const matches = [...this.#timers].filter(
      ([, timer]) =>
        (timer.owner === owner || timer.machine === owner) &&
        (typeof delay === 'number' ? timer.ms === delay : timer.delay === delay),
    );
    if (matches.length !== 1) {
      const pending = [...this.#timers.values()]
        .map((t) => `${t.owner}:${t.delay ?? '?'}:${t.ms}ms`)
        .join(', ');
      throw new Error(
        `expected one pending ${delay} delay of ${owner}, found ${matches.length} (pending: ${pending || 'none'})`,
      );
    }
    const [id, timer] = matches[0] as [number, Timer];
    this.#timers.delete(id);
    this.#now = timer.due;
    timer.fn();
  }
}
