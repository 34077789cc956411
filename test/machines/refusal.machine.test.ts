/**
 * The refusal machine alone, on simulated time, with a fake socket that
 * records what the machine asked of it: the handshake, then the close frame
 * once open, and an end on close, error, TERMINATE or the timeout, which
 * always terminates the socket. Whatever ends it, the subscription is undone
 * and no delay is left.
 */
import { describe, expect, it } from 'vitest';
import { createActor, SimulatedClock } from 'xstate';
import { type RefusalEvent, refusalMachine } from '../../machines/index.js';
import { pendingDelays } from '../helpers/fake-transport.js';

function startRefusal(timeoutMs = 1_000) {
  const clock = new SimulatedClock();
  const log: string[] = [];
  let sink: ((event: RefusalEvent) => void) | undefined;
  const transport = {
    subscribe(send: (event: RefusalEvent) => void) {
      sink = send;
      log.push('subscribe');
      return () => {
        sink = undefined;
        log.push('unsubscribe');
      };
    },
  };
  const machine = refusalMachine.provide({
    actions: {
      completeHandshake: () => void log.push('completeHandshake'),
      sendCloseFrame: (_, { code, reason }) => void log.push(`sendCloseFrame ${code} ${reason}`),
      terminateSocket: () => void log.push('terminateSocket'),
    },
  });
  const actor = createActor(machine, {
    input: { transport, code: 4429, reason: 'too many retry-after=5', timeoutMs },
    clock,
  });
  actor.start();
  return {
    actor,
    log,
    clock,
    /** A fact from the socket, through the subscription (as the runtime delivers it). */
    tell: (event: RefusalEvent) => sink?.(event),
    pending: () => pendingDelays(clock),
  };
}

describe('refusal machine', () => {
  it('completes the handshake, then sends the close frame once open, and ends when the socket closes', () => {
    const r = startRefusal();
    expect(r.actor.getSnapshot().value).toEqual({ refusing: 'upgrading' });
    expect(r.log).toEqual(['subscribe', 'completeHandshake']);
    expect(r.pending()).toBe(1); // refusalTimeout

    r.tell({ type: 'SOCKET_OPENED' });
    expect(r.actor.getSnapshot().value).toEqual({ refusing: 'closing' });
    r.tell({ type: 'SOCKET_CLOSED', code: 4429, reason: '' });

    expect(r.actor.getSnapshot().status).toBe('done');
    expect(r.log).toEqual([
      'subscribe',
      'completeHandshake',
      'sendCloseFrame 4429 too many retry-after=5',
      'unsubscribe',
    ]);
    expect(r.pending()).toBe(0);
  });

  it('ends without a close frame when the socket closes before the handshake (e.g. verifyClient refused)', () => {
    const r = startRefusal();
    r.tell({ type: 'SOCKET_CLOSED', code: 1006, reason: '' });
    expect(r.actor.getSnapshot().status).toBe('done');
    expect(r.log).toEqual(['subscribe', 'completeHandshake', 'unsubscribe']);
    expect(r.pending()).toBe(0);
  });

  it.each([
    ['in upgrading', false],
    ['in closing', true],
  ])('terminates the socket at the timeout %s: a peer that never completes the close', (_name, opened) => {
    const r = startRefusal(700);
    if (opened) r.tell({ type: 'SOCKET_OPENED' });
    r.clock.increment(699);
    expect(r.actor.getSnapshot().status).toBe('active');
    r.clock.increment(1);
    expect(r.actor.getSnapshot().status).toBe('done');
    expect(r.log.slice(-2)).toEqual(['terminateSocket', 'unsubscribe']);
    expect(r.pending()).toBe(0);
  });

  it.each<RefusalEvent>([{ type: 'SOCKET_ERRORED', error: new Error('reset') }, { type: 'TERMINATE' }])(
    'terminates the socket on $type',
    (event) => {
      const r = startRefusal();
      r.tell({ type: 'SOCKET_OPENED' });
      r.actor.send(event);
      expect(r.actor.getSnapshot().status).toBe('done');
      expect(r.log.slice(-2)).toEqual(['terminateSocket', 'unsubscribe']);
      expect(r.pending()).toBe(0);
    },
  );
});
