/**
 * The user supervisor's slot names, by property: fast-check draws a user's
 * limit (1 to 8), a linger of 0 or 500 ms, and a sequence of steps against a
 * fresh supervisor on fake sockets and a simulated clock: admissions (children
 * that open, stay connecting, fail at opening, fail while draining, end or
 * open inside their own start, with the user's limit or a plan change), socket
 * closes and errors, messages, buffer overflows, EVICT_IF_IDLE, EVICT_CHILD,
 * SHUTDOWN, TERMINATE, and time passing through the idle, connect, drain and
 * linger delays.
 *
 * After every step (machines/user-supervisor.machine.ts, `slots` and `freeSlots`):
 * the running children have distinct ids, each is `snapshot.children[id]`, and
 * no other child is there; the keys of `slots` are the running children's
 * connection ids, each mapped to its child's id; `freeSlots` is strictly
 * descending; and the names in `slots` and `freeSlots` are exactly 0..m-1, each
 * once. After every admission the new child has the lowest name no child held.
 * A failure is shrunk to a minimal sequence of steps and printed.
 */
import fc from 'fast-check';
import { expect, it, vi } from 'vitest';
import { type AnyActorRef, createActor, SimulatedClock } from 'xstate';
import type { ConnectionEvent } from '../../machines/index.js';
import { fuzzParameters, fuzzTimeout } from '../helpers/fuzz.js';
import { ClockedTransport, closed, loggedUserSupervisor } from '../helpers/logged-machines.js';

// The property's timeout, scaled with WSSUP_FUZZ_RUNS (test/helpers/fuzz.ts).
vi.setConfig({ testTimeout: fuzzTimeout(60_000) });

const timings = { connectTimeoutMs: 100, idleTimeoutMs: 1_000, heartbeatIntervalMs: 1e9, drainTimeoutMs: 50 };
const evictAtFor = (limit: number) => Math.max(1, Math.ceil(limit * 0.7));

/**
 * A fake socket whose first fact arrives as the connection subscribes, inside
 * the child's start: its peer already gone (the child ends before its ADMIT
 * step is over), or its handshake already done.
 */
class InstantTransport extends ClockedTransport {
  constructor(
    clock: SimulatedClock,
    readonly first: 'closed' | 'opened',
  ) {
    super(clock);
  }

  override subscribe(sink: (event: ConnectionEvent) => void) {
    const undo = super.subscribe(sink);
    if (this.first === 'closed') this.push(closed);
    else this.open();
    return undo;
  }
}

/**
 * How an admitted child behaves. The connection id's prefix is what
 * test/helpers/logged-machines.ts reads: `boom` fails at opening, `fragile`
 * fails when closed.
 */
const KINDS = {
  plain: { prefix: 'c', first: undefined },
  'fails-at-open': { prefix: 'boom', first: undefined },
  'fails-draining': { prefix: 'fragile', first: undefined },
  'ends-in-start': { prefix: 'gone', first: 'closed' },
  'opens-in-start': { prefix: 'ready', first: 'opened' },
  'fails-in-start': { prefix: 'boom-ready', first: 'opened' },
} as const;
type Kind = keyof typeof KINDS;

type Op =
  /** ADMIT a new connection; `opens`: its handshake completes right after (for a socket not yet open). */
  | { op: 'admit'; kind: Kind; opens: boolean; ownLimit: number | undefined }
  | { op: 'close' | 'error' | 'message' | 'overflow' | 'evictIfIdle' | 'evictChild'; target: number }
  | { op: 'shutdown' | 'terminate' }
  | { op: 'advance'; ms: number };

function describe(o: Op): string {
  switch (o.op) {
    case 'admit':
      return `admit(${o.kind}${o.opens ? ', opens' : ''}${o.ownLimit === undefined ? '' : `, limit ${o.ownLimit}`})`;
    case 'advance':
      return `advance(${o.ms} ms)`;
    case 'shutdown':
    case 'terminate':
      return `${o.op}()`;
    default:
      return `${o.op}(#${o.target})`;
  }
}

/** The op, printed by fast-check as `describe` reads it. */
const named = (o: Op): Op => Object.assign({ ...o }, { [fc.toStringMethod]: () => describe(o) });

/** The n-th connection admitted so far (modulo their count). */
const target = fc.nat({ max: 15 });
const onTarget = (op: Extract<Op, { target: number }>['op']) => fc.record({ op: fc.constant(op), target });

const opArbitrary: fc.Arbitrary<Op> = fc
  .oneof(
    {
      weight: 60,
      arbitrary: fc.record({
        op: fc.constant('admit' as const),
        // Mostly ordinary children, so that a user's count climbs before one leaves.
        kind: fc.oneof(
          { weight: 5, arbitrary: fc.constant<Kind>('plain') },
          { weight: 1, arbitrary: fc.constantFrom(...(Object.keys(KINDS) as Kind[])) },
        ),
        // Mostly opened: one left connecting is gone at the connect timeout.
        opens: fc.oneof(
          { weight: 4, arbitrary: fc.constant(true) },
          { weight: 1, arbitrary: fc.constant(false) },
        ),
        // The user's limit, or (1 in 5) a plan change to another.
        ownLimit: fc.option(fc.integer({ min: 1, max: 8 }), { nil: undefined, freq: 5 }),
      }),
    },
    { weight: 15, arbitrary: onTarget('close') },
    { weight: 15, arbitrary: onTarget('error') },
    { weight: 20, arbitrary: onTarget('message') },
    { weight: 10, arbitrary: onTarget('overflow') },
    { weight: 14, arbitrary: onTarget('evictIfIdle') },
    { weight: 10, arbitrary: onTarget('evictChild') },
    { weight: 1, arbitrary: fc.constant({ op: 'shutdown' as const }) },
    { weight: 1, arbitrary: fc.constant({ op: 'terminate' as const }) },
    {
      weight: 40,
      arbitrary: fc.record({
        op: fc.constant('advance' as const),
        ms: fc.constantFrom(10, 50, 100, 500, 1_000, 2_000),
      }),
    },
  )
  .map((o) => named(o as Op));

/** The lowest name not in `held`. */
function lowestFree(held: readonly string[]): string {
  const taken = new Set(held);
  let n = 0;
  while (taken.has(String(n))) n += 1;
  return String(n);
}

it('slot names stay unique, booked and dense through every step, and an admission takes the lowest free one', async () => {
  /** What the runs reached, so a reader can tell the property was not vacuous. */
  const seen = { runs: 0, steps: 0, admitted: 0, reusedName: 0, endedRuns: 0, mostNames: 0 };
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 8 }),
      fc.constantFrom(0, 500),
      fc.array(opArbitrary, { maxLength: 60, size: 'max' }),
      async (limit, lingerMs, ops) => {
        const clock = new SimulatedClock();
        // Every actor the supervisor's system creates, the supervisor itself first.
        const created: AnyActorRef[] = [];
        const { machine } = loggedUserSupervisor([], []);
        const supervisor = createActor(machine, {
          clock,
          inspect: (event) => {
            if (event.type === '@xstate.actor') created.push(event.actorRef as AnyActorRef);
          },
          input: { userId: 'u', limit, evictAt: evictAtFor(limit), timings, lingerMs },
        });
        supervisor.start();
        const children = () => created.filter((actor) => actor !== supervisor);
        const connectionIdOf = (actor: AnyActorRef): string => actor.getSnapshot().context.connectionId;
        const transports = new Map<string, ClockedTransport>();
        /** The steps run so far, for a failure's message. */
        const ran: string[] = [];

        const expectSlotInvariant = (after: string) => {
          const snapshot = supervisor.getSnapshot();
          expect(snapshot.status, `${after}: the supervisor failed: ${String(snapshot.error)}`).not.toBe(
            'error',
          );
          const { slots, freeSlots } = snapshot.context;
          const byName = snapshot.children as Record<string, AnyActorRef | undefined>;
          const running = children().filter((child) => child.getSnapshot().status === 'active');
          const ids = running.map((child) => child.id);
          expect(new Set(ids).size, `${after}: two running children share a name: ${ids}`).toBe(ids.length);
          for (const child of running)
            expect(byName[child.id], `${after}: running child ${child.id} is not children[${child.id}]`).toBe(
              child,
            );
          expect(Object.keys(byName).sort(), `${after}: children other than the running ones`).toEqual(
            [...ids].sort(),
          );
          expect([...slots.keys()].sort(), `${after}: slots' keys are not the running connections`).toEqual(
            running.map(connectionIdOf).sort(),
          );
          for (const [connectionId, slot] of slots)
            expect(
              byName[slot] && connectionIdOf(byName[slot]),
              `${after}: slots maps ${connectionId} to ${slot}`,
            ).toBe(connectionId);
          for (let i = 1; i < freeSlots.length; i++)
            expect(
              (freeSlots[i - 1] as number) > (freeSlots[i] as number),
              `${after}: freeSlots [${freeSlots}] not strictly descending`,
            ).toBe(true);
          const names = [...slots.values(), ...freeSlots.map(String)].sort((a, b) => Number(a) - Number(b));
          expect(
            names,
            `${after}: names held [${[...slots.values()]}] and free [${freeSlots}] are not 0..m-1 once each`,
          ).toEqual(names.map((_, i) => String(i)));
          seen.mostNames = Math.max(seen.mostNames, names.length);
        };

        const pick = (n: number): string | undefined => {
          const ids = [...transports.keys()];
          return ids.length === 0 ? undefined : ids[n % ids.length];
        };
        /** Pushes `event` to the n-th connection's socket, if its child still listens. */
        const push = (n: number, event: ConnectionEvent | ((t: ClockedTransport) => void)) => {
          const id = pick(n);
          const transport = id === undefined ? undefined : transports.get(id);
          if (transport === undefined || transport.subscribed === transport.undone) return;
          if (typeof event === 'function') event(transport);
          else transport.push(event);
        };

        for (const [step, o] of ops.entries()) {
          if (supervisor.getSnapshot().status === 'done') break; // it ended: nothing more to step
          ran.push(describe(o));
          const after = `after step ${step} (${ran.join(', ')})`;
          switch (o.op) {
            case 'admit': {
              const { prefix, first } = KINDS[o.kind];
              const connectionId = `${prefix}${transports.size}`;
              const transport =
                first === undefined ? new ClockedTransport(clock) : new InstantTransport(clock, first);
              transports.set(connectionId, transport);
              const held = [...supervisor.getSnapshot().context.slots.values()];
              const known = created.length;
              const own = o.ownLimit ?? limit;
              supervisor.send({
                type: 'ADMIT',
                connectionId,
                userId: 'u',
                transport,
                limit: own,
                evictAt: evictAtFor(own),
              });
              const spawned = created.slice(known).filter((actor) => connectionIdOf(actor) === connectionId);
              expect(spawned.length, `${after}: children spawned for ${connectionId}`).toBeLessThanOrEqual(1);
              if (spawned[0] !== undefined) {
                expect(spawned[0].id, `${after}: ${connectionId} did not get the lowest free name`).toBe(
                  lowestFree(held),
                );
                seen.admitted += 1;
                if (Number(spawned[0].id) < held.length) seen.reusedName += 1;
              }
              if (o.opens && first === undefined && transport.subscribed > transport.undone) transport.open();
              break;
            }
            case 'close':
              push(o.target, closed);
              break;
            case 'error':
              push(o.target, { type: 'SOCKET_ERRORED', error: new Error('reset by peer') });
              break;
            case 'message':
              push(o.target, (transport) => transport.message());
              break;
            case 'overflow':
              push(o.target, { type: 'BUFFER_OVERFLOWED', bufferedBytes: 1e7 });
              break;
            case 'evictIfIdle':
            case 'evictChild': {
              const connectionId = pick(o.target);
              if (connectionId === undefined) break;
              if (o.op === 'evictIfIdle') supervisor.send({ type: 'EVICT_IF_IDLE', connectionId });
              // A cluster book's order: over the limit, or superseded by a reconnect on another process.
              else
                supervisor.send({
                  type: 'EVICT_CHILD',
                  connectionId,
                  cause: o.target % 2 === 0 ? 'over-limit' : 'superseded',
                });
              break;
            }
            case 'shutdown':
              supervisor.send({ type: 'SHUTDOWN', code: 1001, reason: 'going away' });
              break;
            case 'terminate':
              supervisor.send({ type: 'TERMINATE' });
              break;
            case 'advance':
              clock.increment(o.ms);
              break;
          }
          expectSlotInvariant(after);
          seen.steps += 1;
        }
        if (supervisor.getSnapshot().status === 'done') seen.endedRuns += 1;
        supervisor.stop();
        seen.runs += 1;
      },
    ),
    // Runs and seed from the environment (test/helpers/fuzz.ts); a failure prints how to replay it.
    fuzzParameters(import.meta.url, { numRuns: 300 }),
  );
  console.log(
    `slots property: ${seen.runs} runs, ${seen.steps} steps, ${seen.admitted} admitted (${seen.reusedName} into a freed name), ${seen.endedRuns} supervisors ended, at most ${seen.mostNames} names`,
  );
  // The generators must reach freed names being taken again, or the lowest-first check proves little.
  expect(seen.admitted).toBeGreaterThan(0);
  expect(seen.reusedName).toBeGreaterThan(0);
  expect(seen.endedRuns).toBeGreaterThan(0);
});
