/**
 * The `messageRate` option: a client that sends more inbound messages than its
 * token bucket allows (`burst` at once, `perSecond` sustained) is closed with
 * 4009 `message rate exceeded` and drained, as a slow consumer is, and the
 * message that found the bucket empty never reaches onMessage (nor does any
 * after it). Time is the rules server's SimulatedClock: tokens come back only
 * when the test moves it.
 */
import { describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import { createSupervisor, type DisposeInfo, type SupervisorOptions } from '../../src/index.js';
import {
  clientFrame,
  closePayload,
  expectLeakFree,
  ioDeadlineMs,
  Opcode,
  serverFrames,
  startTarget,
  within,
} from '../helpers/adversary.js';
import { rawWebSocket } from '../helpers/cleanup.js';
import {
  closeOf,
  idleTimeoutMs,
  nextEvent,
  type RulesServer,
  startRulesServer,
  waitForUser,
} from '../helpers/rules.js';
import { allDisposed, expectNoLeaks } from '../helpers/server.js';

/** A rules server whose onMessage records every message it is given, and echoes it. */
async function startRecording(messageRate: SupervisorOptions['messageRate']) {
  const delivered: string[] = [];
  const closes: DisposeInfo[] = [];
  const t = await startRulesServer({
    messageRate,
    onMessage: (connection, data) => {
      delivered.push(data.toString());
      connection.send(data);
    },
    onClose: (_connection, info) => {
      closes.push(info);
    },
  });
  return { t, delivered, closes };
}

/** Sends each of `messages` and waits for its echo: every one was delivered. */
async function sendEchoed(ws: WebSocket, messages: string[]): Promise<void> {
  for (const message of messages) {
    const echo = new Promise<string>((resolve) => ws.once('message', (data) => resolve(String(data))));
    ws.send(message);
    expect(await echo).toBe(message);
  }
}

async function finish(t: RulesServer): Promise<void> {
  await allDisposed(t.supervisor);
  expectNoLeaks(t.supervisor);
  expect(t.errors).toEqual([]);
}

describe('messageRate', () => {
  it('never closes a client within the rate: a whole burst at once, then perSecond sustained', async () => {
    const { t, delivered } = await startRecording({ perSecond: 10, burst: 3 });
    const { ws } = await t.open('ann');
    await sendEchoed(ws, ['a', 'b', 'c']); // the whole burst, no time passing
    // One every 100 ms (10 a second) for 30 messages: the bucket never runs dry.
    for (let i = 0; i < 30; i++) {
      t.clock.increment(100);
      await sendEchoed(ws, [`m${i}`]);
    }
    expect(delivered).toHaveLength(33);
    expect(t.supervisor.userStats('ann')).toMatchObject({ live: 1, draining: 0 });
    expect(t.events.disposed).toEqual([]);
    ws.close();
    await finish(t);
  });

  it('closes a burst over it with 4009, and the excess message never reaches onMessage', async () => {
    const { t, delivered, closes } = await startRecording({ perSecond: 1, burst: 3 });
    const { ws, id } = await t.open('bob');
    const disposed = nextEvent(t.supervisor, 'disposed', (event) => event.connectionId === id);
    const closed = closeOf(ws);
    for (const message of ['1', '2', '3', '4', '5', '6']) ws.send(message);

    expect(await closed).toEqual({ code: 4009, reason: 'message rate exceeded' });
    expect(await disposed).toMatchObject({ reason: 'message-rate-exceeded', closeCode: 4009 });
    expect(delivered).toEqual(['1', '2', '3']);
    expect(closes).toMatchObject([{ reason: 'message-rate-exceeded', closeCode: 4009 }]);
    await finish(t);
    expect(delivered).toEqual(['1', '2', '3']);
  });

  it('refills tokens with clock time, a fraction of one being none', async () => {
    const { t, delivered } = await startRecording({ perSecond: 10, burst: 2 });
    const { ws } = await t.open('cy');
    await sendEchoed(ws, ['1', '2']); // empty now
    t.clock.increment(100); // one token back
    await sendEchoed(ws, ['3']);
    t.clock.increment(99); // 0.99 of a token: not enough
    const closed = closeOf(ws);
    ws.send('4');
    expect(await closed).toEqual({ code: 4009, reason: 'message rate exceeded' });
    expect(delivered).toEqual(['1', '2', '3']);
    await finish(t);
  });

  it('holds no more than burst, however long the client was quiet', async () => {
    const { t, delivered } = await startRecording({ perSecond: 10, burst: 2 });
    const { ws } = await t.open('dee');
    t.clock.increment(60_000);
    const closed = closeOf(ws);
    for (const message of ['1', '2', '3']) ws.send(message);
    expect(await closed).toEqual({ code: 4009, reason: 'message rate exceeded' });
    expect(delivered).toEqual(['1', '2']);
    await finish(t);
  });

  it('refills nothing, but takes nothing either, when the clock steps back', async () => {
    const { t, delivered } = await startRecording({ perSecond: 10, burst: 2 });
    const { ws } = await t.open('fay');
    t.clock.increment(10_000);
    await sendEchoed(ws, ['1']); // one token left, read at 10,000
    // The wall clock stepped back a second (NTP): SimulatedClock.set() refuses to go back.
    (t.clock as unknown as { _now: number })._now = 9_000;
    const closed = closeOf(ws);
    await sendEchoed(ws, ['2']); // the token left, not one less a second's refill
    expect(delivered).toEqual(['1', '2']);
    expect(t.supervisor.userStats('fay')).toMatchObject({ live: 1, draining: 0 });
    ws.close();
    expect(await closed).toMatchObject({ code: 1005 });
    await finish(t);
  });

  it('delivers nothing the client sends after its 4009, though its bucket has refilled', async () => {
    const delivered: string[] = [];
    const t = await startTarget({
      supervisor: {
        messageRate: { perSecond: 10, burst: 1 },
        onMessage: (_connection, data) => {
          delivered.push(data.toString());
        },
      },
    });
    // A raw client, which goes on sending after the server's close frame.
    const socket = await rawWebSocket(t.port, 'gus');
    const frames = serverFrames(socket);
    socket.write(Buffer.concat([clientFrame(Opcode.text, '1'), clientFrame(Opcode.text, '2')]));
    expect(await within(frames.closeCode(), ioDeadlineMs, 'a close frame from the server')).toBe(4009);
    t.clock.increment(200); // two tokens' worth, within drainTimeoutMs (500)
    socket.write(
      Buffer.concat([clientFrame(Opcode.text, '3'), clientFrame(Opcode.close, closePayload(1000))]),
    );
    await expectLeakFree(t.supervisor);
    expect(delivered).toEqual(['1']);
    expect(t.events.disposed).toMatchObject([{ userId: 'gus', reason: 'message-rate-exceeded' }]);
    expect(t.errors).toEqual([]);
  });

  it('limits an idle connection too: its first message wakes it, the excess closes it', async () => {
    const { t, delivered } = await startRecording({ perSecond: 1, burst: 2 });
    const { ws } = await t.open('eve');
    t.clock.increment(idleTimeoutMs);
    await waitForUser(t.supervisor, 'eve', { idle: 1 });
    const closed = closeOf(ws);
    for (const message of ['1', '2', '3']) ws.send(message);
    expect(await closed).toEqual({ code: 4009, reason: 'message rate exceeded' });
    expect(delivered).toEqual(['1', '2']);
    await finish(t);
  });

  it('is off by default in every preset', () => {
    for (const preset of ['production', 'staging', 'test'] as const) {
      const supervisor = createSupervisor({ preset, authenticate: () => 'u' });
      expect(supervisor.options.messageRate).toBeUndefined();
      void supervisor.shutdown();
    }
  });

  it.each<[string, unknown, string, string]>([
    ['null', null, 'messageRate', '{ perSecond, burst }, or undefined for no limit'],
    ['a number', 50, 'messageRate', '{ perSecond, burst }, or undefined for no limit'],
    ['an array', [50, 10], 'messageRate', '{ perSecond, burst }, or undefined for no limit'],
    ['another key', { perSecond: 1, burst: 1, perMs: 5 }, 'messageRate.perMs', 'only perSecond and burst'],
    ['perSecond 0', { perSecond: 0, burst: 1 }, 'messageRate.perSecond', 'a number greater than 0'],
    ['perSecond NaN', { perSecond: Number.NaN, burst: 1 }, 'messageRate.perSecond', 'a number greater'],
    ['no perSecond', { burst: 1 }, 'messageRate.perSecond', 'a number greater than 0'],
    ['burst 0', { perSecond: 1, burst: 0 }, 'messageRate.burst', 'an integer from 1 to 1000000'],
    ['burst 1.5', { perSecond: 1, burst: 1.5 }, 'messageRate.burst', 'an integer from 1 to 1000000'],
    ['no burst', { perSecond: 1 }, 'messageRate.burst', 'an integer from 1 to 1000000'],
  ])('refuses %s with WSSUP_INVALID_OPTION naming what is allowed', (_name, messageRate, option, allowed) => {
    const create = () =>
      createSupervisor({ authenticate: () => 'u', messageRate } as unknown as SupervisorOptions);
    expect(create).toThrow(expect.objectContaining({ code: 'WSSUP_INVALID_OPTION', option }));
    expect(create).toThrow(allowed);
  });
});
