/**
 * The hub alone, on simulated time: it is only the runtime's shutdown
 * coordinator now (running → shuttingDown → stopped). The two requests it
 * emits to the runtime are recorded in order: `drainChunk` with the code and reason of the
 * SHUTDOWN (after its `drainBatch`es when paced), once per turn until the runtime says every
 * user was told (here after `chunks` chunks, 1 unless said), then `terminateAll` once the deadline expires. The user
 * supervisors under it are tested in user-supervisor.machine.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { createActor, fromCallback, SimulatedClock } from 'xstate';
import { hubMachine } from '../../machines/index.js';
import { pendingDelays } from '../helpers/fake-transport.js';

function startHub(chunks = 1) {
  const clock = new SimulatedClock();
  /** What the hub asked the runtime to do, in order. */
  const log: string[] = [];
  /** The `nextTurn`s started and cleaned up (a turn waited for, then cancelled or passed). */
  const turns = { started: 0, cleanedUp: 0 };
  const hub = createActor(
    hubMachine.provide({
      actors: {
        nextTurn: fromCallback(() => {
          turns.started += 1;
          return () => {
            turns.cleanedUp += 1;
          };
        }),
      },
    }),
    { clock },
  );
  let chunksLeft = chunks;
  hub.on('drainChunk', ({ code, reason }) => {
    log.push(`drainChunk ${code} ${reason}`);
    chunksLeft -= 1;
    if (chunksLeft <= 0) hub.send({ type: 'EVERY_USER_TOLD' });
  });
  hub.on('drainBatch', ({ of, code }) => void log.push(`drainBatch 1/${of} ${code}`));
  hub.on('terminateAll', () => void log.push('terminateAll'));
  hub.start();
  return {
    hub,
    log,
    turns,
    advance: (ms: number) => clock.increment(ms),
    pending: () => pendingDelays(clock),
    value: () => hub.getSnapshot().value,
    shutdown: (deadlineMs: number, code = 1001, reason = 'server shutting down') =>
      hub.send({ type: 'SHUTDOWN', deadlineMs, code, reason, chunkSize: 100 }),
    pacedShutdown: (deadlineMs: number, batches: number, intervalMs: number) =>
      hub.send({
        type: 'SHUTDOWN',
        deadlineMs,
        code: 1001,
        reason: 'server shutting down',
        pace: { batches, intervalMs },
        chunkSize: 100,
      }),
    /** Advances the clock and returns what the hub asked for meanwhile. */
    during(ms: number): string[] {
      const before = log.length;
      clock.increment(ms);
      return log.slice(before);
    },
    allUsersEnded: () => hub.send({ type: 'ALL_USERS_ENDED' }),
  };
}

describe('running', () => {
  it('starts running, with nothing scheduled and nothing asked of the runtime', () => {
    const h = startHub();
    expect(h.value()).toBe('running');
    expect(h.hub.getSnapshot().status).toBe('active');
    expect(h.pending()).toBe(0);
    expect(h.log).toEqual([]);
  });

  it('ignores ALL_USERS_ENDED: users come and go while it runs, and only SHUTDOWN ends it', () => {
    const h = startHub();
    const before = h.hub.getSnapshot();
    h.allUsersEnded();
    expect(h.hub.getSnapshot()).toBe(before); // no transition at all
    expect(h.hub.getSnapshot().status).toBe('active');
    expect(h.log).toEqual([]);
    expect(h.pending()).toBe(0);
    h.shutdown(500); // and it still shuts down
    expect(h.value()).toEqual({ shuttingDown: 'drained' });
  });
});

describe('SHUTDOWN', () => {
  it.each([
    { deadlineMs: 1, code: 1001, reason: 'server shutting down' },
    { deadlineMs: 500, code: 1012, reason: 'restarting' },
    { deadlineMs: 30_000, code: 4000, reason: '' },
  ])(
    'records the deadline ($deadlineMs ms) and drains every user with code $code',
    ({ deadlineMs, code, reason }) => {
      const h = startHub();
      h.shutdown(deadlineMs, code, reason);
      expect(h.value()).toEqual({ shuttingDown: 'drained' });
      expect(h.hub.getSnapshot().context).toMatchObject({ shutdownDeadlineMs: deadlineMs, batchesLeft: 1 });
      expect(h.log).toEqual([`drainChunk ${code} ${reason}`]);
      expect(h.pending()).toBe(1); // the deadline, and nothing else
    },
  );

  it.each([1, 500, 30_000])(
    'terminates whatever is left once, exactly %d ms after SHUTDOWN, and waits for the users to end',
    (deadlineMs) => {
      const h = startHub();
      h.shutdown(deadlineMs);
      h.advance(deadlineMs - 1);
      expect(h.log).toEqual(['drainChunk 1001 server shutting down']);
      h.advance(1);
      expect(h.log).toEqual(['drainChunk 1001 server shutting down', 'terminateAll']);
      expect(h.pending()).toBe(0); // not re-armed
      // Terminating is asked for; the hub ends only when the runtime reports the last user gone.
      expect(h.value()).toEqual({ shuttingDown: 'drained' });
      h.advance(deadlineMs * 10);
      expect(h.log.filter((line) => line === 'terminateAll')).toHaveLength(1);
      h.allUsersEnded();
      expect(h.hub.getSnapshot()).toMatchObject({ value: 'stopped', status: 'done' });
      expect(h.log).toEqual(['drainChunk 1001 server shutting down', 'terminateAll']);
    },
  );

  it('ALL_USERS_ENDED before the deadline stops it and cancels the deadline', () => {
    const h = startHub();
    h.shutdown(500);
    h.advance(499);
    h.allUsersEnded();
    expect(h.hub.getSnapshot()).toMatchObject({ value: 'stopped', status: 'done' });
    expect(h.pending()).toBe(0);
    h.advance(10_000);
    expect(h.log).toEqual(['drainChunk 1001 server shutting down']); // never terminateAll
  });

  it('ALL_USERS_ENDED at once (no user left to drain) stops it with nothing scheduled', () => {
    const h = startHub();
    h.shutdown(500);
    h.allUsersEnded();
    expect(h.hub.getSnapshot().status).toBe('done');
    expect(h.pending()).toBe(0);
  });

  it('a second SHUTDOWN changes nothing: no second drain, and the first deadline holds', () => {
    const h = startHub();
    h.shutdown(500);
    h.advance(400);
    const before = h.hub.getSnapshot();
    h.shutdown(10_000, 1012, 'again');
    expect(h.hub.getSnapshot()).toBe(before);
    expect(h.hub.getSnapshot().context).toMatchObject({ shutdownDeadlineMs: 500, code: 1001 });
    expect(h.log).toEqual(['drainChunk 1001 server shutting down']);
    expect(h.pending()).toBe(1);
    h.advance(99);
    expect(h.log).toEqual(['drainChunk 1001 server shutting down']);
    h.advance(1); // 500 ms after the first SHUTDOWN
    expect(h.log).toEqual(['drainChunk 1001 server shutting down', 'terminateAll']);
  });

  it('a SHUTDOWN after the deadline fired asks for nothing more', () => {
    const h = startHub();
    h.shutdown(500);
    h.advance(500);
    h.shutdown(500);
    h.advance(500);
    expect(h.log).toEqual(['drainChunk 1001 server shutting down', 'terminateAll']);
    expect(h.pending()).toBe(0);
  });

  it('stopping the hub mid-shutdown cancels the deadline', () => {
    const h = startHub();
    h.shutdown(500);
    h.hub.stop();
    expect(h.pending()).toBe(0);
    h.advance(500);
    expect(h.log).toEqual(['drainChunk 1001 server shutting down']);
  });
});

describe('unpaced SHUTDOWN in chunks (one turn of the event loop each)', () => {
  it('asks for a chunk at once and one more per turn of the event loop until the runtime says every user was told', () => {
    const h = startHub(3);
    h.shutdown(500);
    expect(h.value()).toEqual({ shuttingDown: 'draining' });
    expect(h.log).toEqual(['drainChunk 1001 server shutting down']);
    expect(h.pending()).toBe(1); // the deadline: turns are not on the clock
    h.hub.send({ type: 'TURN_PASSED' });
    h.hub.send({ type: 'TURN_PASSED' });
    expect(h.log).toEqual(Array(3).fill('drainChunk 1001 server shutting down'));
    expect(h.value()).toEqual({ shuttingDown: 'drained' });
    h.hub.send({ type: 'TURN_PASSED' }); // a late one changes nothing
    expect(h.log).toHaveLength(3);
    expect(h.during(499)).toEqual([]);
    expect(h.during(1)).toEqual(['terminateAll']);
  });

  it('ALL_USERS_ENDED mid-chunks stops it and cancels the next chunk and the deadline', () => {
    const h = startHub(1_000);
    h.shutdown(500);
    expect(h.value()).toEqual({ shuttingDown: 'draining' });
    expect(h.turns).toEqual({ started: 1, cleanedUp: 0 }); // waiting for the next turn
    h.allUsersEnded();
    expect(h.hub.getSnapshot().status).toBe('done');
    expect(h.pending()).toBe(0);
    expect(h.turns).toEqual({ started: 1, cleanedUp: 1 }); // that wait was cancelled
    h.hub.send({ type: 'TURN_PASSED' }); // a late one changes nothing
    expect(h.log).toEqual(['drainChunk 1001 server shutting down']);
  });

  it('the deadline firing mid-chunks asks to terminate and ends the chunks: terminateAll told every user left', () => {
    const h = startHub(3);
    h.shutdown(500);
    expect(h.during(500)).toEqual(['terminateAll']);
    expect(h.value()).toEqual({ shuttingDown: 'drained' });
    expect(h.pending()).toBe(0);
    expect(h.turns).toEqual({ started: 1, cleanedUp: 1 }); // the wait for the next chunk was cancelled
    h.hub.send({ type: 'TURN_PASSED' }); // a late one changes nothing
    expect(h.log).toEqual(['drainChunk 1001 server shutting down', 'terminateAll']);
    h.allUsersEnded();
    expect(h.hub.getSnapshot()).toMatchObject({ value: 'stopped', status: 'done' });
  });

  it.each([
    { chunkSize: Number.NaN, asked: 1 },
    { chunkSize: 0, asked: 1 },
    { chunkSize: -5, asked: 1 },
    { chunkSize: 2.5, asked: 1 },
    { chunkSize: Number.POSITIVE_INFINITY, asked: 1 },
    { chunkSize: 7, asked: 7 },
  ])('asks for chunks of $asked connection(s) when SHUTDOWN says $chunkSize', ({ chunkSize, asked }) => {
    const sizes: number[] = [];
    const hub = createActor(hubMachine.provide({ actors: { nextTurn: fromCallback(() => undefined) } }), {
      clock: new SimulatedClock(),
    });
    hub.on('drainChunk', ({ size }) => void sizes.push(size));
    hub.start();
    hub.send({ type: 'SHUTDOWN', deadlineMs: 500, code: 1001, reason: '', chunkSize });
    hub.send({ type: 'TURN_PASSED' });
    expect(sizes).toEqual([asked, asked]);
  });

  it('the last paced batch drains the rest in chunks too', () => {
    const h = startHub(2);
    h.pacedShutdown(1_000, 2, 100);
    expect(h.log).toEqual(['drainBatch 1/2 1001']);
    expect(h.during(100)).toEqual(['drainChunk 1001 server shutting down']);
    expect(h.value()).toEqual({ shuttingDown: 'draining' });
    h.hub.send({ type: 'TURN_PASSED' });
    expect(h.log.at(-1)).toBe('drainChunk 1001 server shutting down');
    expect(h.value()).toEqual({ shuttingDown: 'drained' });
  });
});

describe('paced SHUTDOWN (issue 11, item 10)', () => {
  it('sends one batch at once and one every interval, the last one draining everything, all before the deadline', () => {
    const h = startHub();
    h.pacedShutdown(1_000, 4, 100);
    expect(h.log).toEqual(['drainBatch 1/4 1001']);
    expect(h.value()).toEqual({ shuttingDown: 'pacing' });
    expect(h.pending()).toBe(2); // the next batch and the deadline
    expect(h.during(99)).toEqual([]);
    expect(h.during(1)).toEqual(['drainBatch 1/3 1001']);
    expect(h.during(99)).toEqual([]);
    expect(h.during(1)).toEqual(['drainBatch 1/2 1001']);
    expect(h.during(99)).toEqual([]);
    expect(h.during(1)).toEqual(['drainChunk 1001 server shutting down']);
    expect(h.value()).toEqual({ shuttingDown: 'drained' });
    expect(h.pending()).toBe(1); // only the deadline now
    expect(h.during(699)).toEqual([]);
    expect(h.during(1)).toEqual(['terminateAll']); // 1000 ms after SHUTDOWN, as unpaced
    h.allUsersEnded();
    expect(h.hub.getSnapshot()).toMatchObject({ value: 'stopped', status: 'done' });
    expect(h.pending()).toBe(0);
  });

  it('the deadline is not moved by the batches: it terminates mid-pacing if it comes first', () => {
    const h = startHub();
    h.pacedShutdown(250, 10, 100);
    expect([...h.during(100), ...h.during(100), ...h.during(50)]).toEqual([
      'drainBatch 1/9 1001',
      'drainBatch 1/8 1001',
      'terminateAll',
    ]);
    // No batch after it, nor the chunks of the last: terminateAll told every supervisor left.
    expect(h.value()).toEqual({ shuttingDown: 'drained' });
    expect(h.pending()).toBe(0);
    expect(h.during(10_000)).toEqual([]);
  });

  it('ALL_USERS_ENDED mid-pacing stops it, with no batch or deadline left scheduled', () => {
    const h = startHub();
    h.pacedShutdown(1_000, 5, 100);
    h.advance(150);
    h.allUsersEnded();
    expect(h.hub.getSnapshot()).toMatchObject({ value: 'stopped', status: 'done' });
    expect(h.pending()).toBe(0);
    expect(h.during(10_000)).toEqual([]);
    expect(h.log).toEqual(['drainBatch 1/5 1001', 'drainBatch 1/4 1001']);
  });

  it('one batch is no pacing at all: drained in chunks at once, as unpaced', () => {
    const h = startHub();
    h.pacedShutdown(500, 1, 100);
    expect(h.log).toEqual(['drainChunk 1001 server shutting down']);
    expect(h.value()).toEqual({ shuttingDown: 'drained' });
    expect(h.pending()).toBe(1);
  });

  it('a second SHUTDOWN while pacing changes nothing', () => {
    const h = startHub();
    h.pacedShutdown(1_000, 3, 100);
    const before = h.hub.getSnapshot();
    h.shutdown(10);
    expect(h.hub.getSnapshot()).toBe(before);
    expect([...h.during(100), ...h.during(100)]).toEqual([
      'drainBatch 1/2 1001',
      'drainChunk 1001 server shutting down',
    ]);
  });

  it('stopping the hub mid-pacing cancels the batches and the deadline', () => {
    const h = startHub();
    h.pacedShutdown(1_000, 3, 100);
    h.hub.stop();
    expect(h.pending()).toBe(0);
    expect(h.during(1_000)).toEqual([]);
  });
});
