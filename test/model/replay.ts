/**
 * What the walks of the smaller machines share (lease, refusal, store watchdog, dashboard
 * feed): their shortest paths replayed on the model, and a view of the real actor's latest
 * snapshot from the inspection stream.
 */
import type { AnyActorLogic, EventObject, InspectionEvent } from 'xstate';
import { createActor } from 'xstate';

/** One step of a replayed path: the event, and the model's context after it. */
export interface ReplayedStep<Book> {
  event: EventObject;
  book: Book;
}

/**
 * Each path's events replayed on the model, so that each step carries its own context: a
 * state key leaves out what only guards read, so the graph's steps carry the context of
 * whichever path reached that key first. Throws when the model cannot replay a step.
 */
export function replayedPaths<Book>(
  paths: ReadonlyArray<{ readonly steps: ReadonlyArray<{ readonly event: EventObject }> }>,
  model: AnyActorLogic,
): ReplayedStep<Book>[][] {
  return paths.map((path) => {
    const actor = createActor(model).start();
    const steps: ReplayedStep<Book>[] = [
      { event: { type: 'xstate.init' }, book: actor.getSnapshot().context as Book },
    ];
    for (const { event } of path.steps.slice(1)) {
      if (!actor.getSnapshot().can(event)) {
        throw new Error(
          `the model cannot replay ${event.type} after ${steps.map((step) => step.event.type).join(' → ')}`,
        );
      }
      actor.send(event);
      steps.push({ event, book: actor.getSnapshot().context as Book });
    }
    actor.stop();
    return steps;
  });
}

/** The latest snapshot of the real actors of machine `machineId`, from the inspection stream. */
export class SnapshotView<Context = unknown> {
  value: unknown;
  status: string | undefined;
  context: Context | undefined;

  constructor(readonly machineId: string) {}

  /** True when `event` is about an actor of this machine. */
  isOurs(event: InspectionEvent): boolean {
    return (event.actorRef as unknown as { logic?: { id?: string } }).logic?.id === this.machineId;
  }

  record(event: InspectionEvent): void {
    if (event.type !== '@xstate.snapshot' || !this.isOurs(event)) return;
    const snapshot = event.snapshot as unknown as { value: unknown; status: string; context: Context };
    this.value = snapshot.value;
    this.status = snapshot.status;
    this.context = snapshot.context;
  }
}

/** A replayed path's test name: its events, then where it ends (`ending`), or `empty` for no event. */
export function pathName<Book>(
  steps: readonly ReplayedStep<Book>[],
  ending: (book: Book) => string,
  empty = '(created)',
): string {
  const last = steps[steps.length - 1] as ReplayedStep<Book>;
  const events = steps
    .slice(1)
    .map((step) => step.event.type)
    .join(' → ');
  return `${events || empty} ⇒ ${ending(last.book)}`;
}

/** Resolves once `ready()` holds, polling the event loop (real sockets answer in their own time). */
export async function until(ready: () => boolean, what: () => string, tries = 4_000): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (ready()) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error(`timed out waiting: ${what()}`);
}
