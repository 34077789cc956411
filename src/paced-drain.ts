/**
 * One batch of a paced shutdown (issue 11, item 10): which connections go
 * now. Idle ones first, longest idle first (they lose nothing), then the
 * oldest (admission order, which `books.handles` keeps). The hub owns the
 * timing (`drainBatch` every `batchInterval`); this only chooses, from the
 * supervisors' own contexts, and tells each chosen child to drain.
 *
 * O(live connections) per batch, plus a sort of the idle ones: a shutdown
 * touches every connection anyway, and it runs a bounded number of batches.
 */
import type { AnyActorRef } from 'xstate';
import type { ConnectionCommand } from '../machines/events.js';
import type { UserSupervisorContext } from '../machines/user-supervisor.machine.js';
import type { UserRecord } from './books.js';
import { afterWaitingIo } from './clock.js';
import { InvalidOptionError } from './errors.js';
import { integerIn } from './integer-option.js';
import type { Defer } from './timer-queue.js';
import type { WsConnection } from './transport/ws-adapter.js';

type SupervisorSnapshot = {
  status: string;
  context: UserSupervisorContext;
  children: Record<string, AnyActorRef | undefined>;
};

/**
 * Whether the child is still running and not leaving. A supervisor's snapshot is
 * the one of its last step: a shutdown() called inside one of its steps (from
 * onClose, or a `disposed` or `evicted` listener) still finds there, live or
 * idle, the child that step has just ended or told to leave. Chosen, it would
 * take the place of a connection that stays, and the batch would close nothing.
 */
function isStaying(child: AnyActorRef): boolean {
  const snapshot = child.getSnapshot() as { status: string; matches(state: string): boolean };
  return snapshot.status === 'active' && !snapshot.matches('draining');
}

/** Whether the idle child is active by the rules: sent to since, its edge still waiting. */
function activeSince(child: AnyActorRef, lastActivityAt: number): boolean {
  const { transport } = (child.getSnapshot() as { context: { transport: WsConnection } }).context;
  return transport.activeSince(lastActivityAt);
}

/** Tells up to `size` live connections to drain with `command`; returns how many were told. */
export function drainBatch(
  users: ReadonlyMap<string, UserRecord>,
  admissionOrder: Iterable<string>,
  size: number,
  command: Extract<ConnectionCommand, { type: 'DRAIN' }>,
): number {
  if (size <= 0) return 0;
  const idle: Array<{ lastActivityAt: number; child: AnyActorRef }> = [];
  /** Live connections that are not idle: connection id → its actor. */
  const busy = new Map<string, AnyActorRef>();
  for (const record of users.values()) {
    const { status, context, children } = record.actor.getSnapshot() as SupervisorSnapshot;
    if (status !== 'active') continue;
    const childOf = (id: string) => {
      const slot = context.slots.get(id);
      const child = slot === undefined ? undefined : children[slot];
      return child !== undefined && isStaying(child) ? child : undefined;
    };
    const idleIds = new Set<string>();
    for (const { connectionId, lastActivityAt } of context.idle) {
      const child = childOf(connectionId);
      // Sent to since it turned idle, its edge still waiting (send-edges.ts): active, not idle.
      if (child === undefined || activeSince(child, lastActivityAt)) continue;
      idleIds.add(connectionId);
      idle.push({ lastActivityAt, child });
    }
    for (const id of context.live) {
      const child = idleIds.has(id) ? undefined : childOf(id);
      if (child !== undefined) busy.set(id, child);
    }
  }
  idle.sort((a, b) => a.lastActivityAt - b.lastActivityAt);
  const chosen = idle.slice(0, size).map(({ child }) => child);
  if (chosen.length < size) {
    for (const id of admissionOrder) {
      const child = busy.get(id);
      if (child === undefined) continue;
      chosen.push(child);
      if (chosen.length === size) break;
    }
  }
  // Each child reports CHILD_DRAINING to its supervisor, which books it as draining.
  for (const child of chosen) child.send(command);
  return chosen.length;
}

/**
 * How a shutdown's drain is cut (the hub's `drainChunk`): at most `connections` told to leave
 * per turn of the event loop, `turn` waiting for the next one (after the I/O waiting),
 * whatever the supervisor's clock: a test on a SimulatedClock need not move it, as for send
 * edges. Telling one costs its connection's step and a close frame (0.1–0.5 ms on a two-core
 * VM): 2,000–5,000 at once held the loop in shutdown()'s callback for 0.25–1.5 s (longest
 * stall 0.42–2.1 s) and probes got ECONNRESET. The chunks fixed the probes and the first
 * 1001s, not the total drain time; the deadline was not measurably late before either
 * (bench/RESULTS.md, the unpaced drain). A user is told whole, so a chunk may exceed this.
 */
export interface ShutdownChunk {
  connections: number;
  turn: Defer;
}

/** Every supervisor's chunk, unless the hub's model test gives one its own (below). */
export const defaultShutdownChunk: Readonly<ShutdownChunk> = Object.freeze({
  connections: 100,
  turn: afterWaitingIo,
});

/**
 * Supervisors' own chunks, by their options object: only the hub's model test and the shutdown
 * tests give one ({@link withShutdownChunk}), to make chunks of one connection and hold the
 * turns, on their supervisor alone: no module state that another test sharing the module graph
 * could see changed. Not a key among the options: a symbol key is read through the options, and
 * an app passing a Proxy saw it in its `get` trap, and could answer it with a chunk of its own.
 */
const ownChunks = new WeakMap<object, unknown>();

/** `options`, whose supervisor drains a shutdown in chunks of `chunk` (checked by createSupervisor()). */
export function withShutdownChunk<Options extends object>(options: Options, chunk: unknown): Options {
  ownChunks.set(options, chunk);
  return options;
}

/**
 * The chunk given to `options` with {@link withShutdownChunk}, or the default.
 * @throws {InvalidOptionError} WSSUP_INVALID_OPTION, naming the bad part, for anything but a
 * {@link ShutdownChunk}: checked with the options, not when the shutdown is half done.
 */
export function shutdownChunkOf(options: object): Readonly<ShutdownChunk> {
  const chunk = ownChunks.get(options);
  if (chunk === undefined) return defaultShutdownChunk;
  if (typeof chunk !== 'object' || chunk === null) {
    throw new InvalidOptionError('shutdownChunk', 'an object { connections, turn }', chunk);
  }
  const { connections, turn } = chunk as { connections?: unknown; turn?: unknown };
  if (!integerIn(1, Number.MAX_SAFE_INTEGER)(connections)) {
    throw new InvalidOptionError('shutdownChunk.connections', 'a positive integer', connections);
  }
  const { set, clear } = (typeof turn === 'object' && turn !== null ? turn : {}) as {
    set?: unknown;
    clear?: unknown;
  };
  if (typeof set !== 'function' || typeof clear !== 'function') {
    throw new InvalidOptionError('shutdownChunk.turn', 'an object { set, clear } of two functions', turn);
  }
  // A frozen copy of what was checked, the two functions included (bound to their object, as
  // they were called): a caller that changes its objects later changes nothing.
  const ownTurn: Defer = Object.freeze({ set: set.bind(turn), clear: clear.bind(turn) });
  return Object.freeze({ connections, turn: ownTurn });
}

/**
 * One chunk of the drain: tells the user supervisors in `untold` (from `next` on) to drain,
 * until `size` connections were told; returns where the next chunk starts (`untold.length`:
 * every one was told). A user is told as a whole, one SHUTDOWN to its supervisor, never child
 * by child: each child told apart costs its supervisor (still `supervising`) a step over all
 * its connections, O(n²) for one user holding thousands. So one holding more than a chunk
 * takes a chunk of its own, and holds the loop for that step.
 */
export function drainChunk(
  users: ReadonlyMap<string, UserRecord>,
  untold: readonly UserRecord[],
  next: number,
  size: number,
  command: Extract<ConnectionCommand, { type: 'DRAIN' }>,
): number {
  let told = 0;
  let at = next;
  // In `users`' Map order (their supervisors' creation), not idle first across users as a paced batch.
  while (at < untold.length) {
    const record = untold[at] as UserRecord;
    // Ended since (its last connection left): nothing to tell.
    if (users.get(record.userId) !== record) {
      at += 1;
      continue;
    }
    const { live } = record.book;
    // One holding no live connection (all told, or lingering) costs one step: told with the chunk.
    // One that would overflow a started chunk starts the next one; alone, it is told whatever its size.
    if (live > 0 && told > 0 && told + live > size) break;
    record.actor.send({ type: 'SHUTDOWN', code: command.code, reason: command.reason });
    told += live;
    at += 1;
  }
  return at;
}
