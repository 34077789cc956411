/**
 * supervisor.ready() without the `cluster` option: the process admits on its
 * full terms from its creation, so ready() resolves at once (on a microtask);
 * once shutdown() has begun it rejects with WSSUP_SHUTTING_DOWN; an aborted
 * signal rejects with its reason; bad options throw WSSUP_INVALID_ARGUMENT
 * naming the key. No server, no socket: nothing here needs one.
 */
import { getEventListeners } from 'node:events';
import { describe, expect, it, onTestFinished } from 'vitest';
import { SimulatedClock } from 'xstate';
import { createSupervisor, type Supervisor, SupervisorError } from '../../src/index.js';

function localSupervisor(): Supervisor {
  const supervisor = createSupervisor({
    preset: 'test',
    clock: new SimulatedClock(),
    authenticate: () => 'ann',
  });
  onTestFinished(() => supervisor.shutdown());
  return supervisor;
}

/** What a call settled with: 'resolved', or the rejection's code (a SupervisorError) or the value itself. */
const settled = (call: Promise<unknown>) =>
  call.then(
    () => 'resolved',
    (error: unknown) => (error instanceof SupervisorError ? error.code : error),
  );

describe('ready() without cluster', () => {
  it('resolves at once, on a microtask, and again on every call', async () => {
    const supervisor = localSupervisor();
    let resolved = false;
    const ready = supervisor.ready().then(() => {
      resolved = true;
    });
    expect(resolved).toBe(false); // never synchronously: a Promise, as in cluster mode
    await ready;
    expect(resolved).toBe(true);
    await expect(supervisor.ready()).resolves.toBeUndefined();
  });

  it('rejects with WSSUP_SHUTTING_DOWN once shutdown() has begun, and after it ended', async () => {
    const supervisor = localSupervisor();
    const stopped = supervisor.shutdown();
    expect(await settled(supervisor.ready())).toBe('WSSUP_SHUTTING_DOWN');
    await stopped;
    expect(await settled(supervisor.ready())).toBe('WSSUP_SHUTTING_DOWN');
  });

  it('rejects after a shutdown() with bad options too: that shuts down with the defaults', async () => {
    const supervisor = localSupervisor();
    await expect(supervisor.shutdown({ deadlineMs: -1 })).rejects.toThrow(SupervisorError);
    expect(await settled(supervisor.ready())).toBe('WSSUP_SHUTTING_DOWN');
  });

  it('rejects with the reason of a signal aborted already, and leaves no listener', async () => {
    const supervisor = localSupervisor();
    const reason = new Error('gave up');
    const signal = AbortSignal.abort(reason);
    expect(await settled(supervisor.ready({ signal }))).toBe(reason);
    expect(getEventListeners(signal, 'abort')).toHaveLength(0);
  });

  it("takes another realm's signal, read by its shape as once() reads it (aborted already: its reason)", async () => {
    const supervisor = localSupervisor();
    const reason = new Error('gave up elsewhere');
    // An iframe's or a polyfill's AbortSignal: not an instance of this realm's class.
    const target = new EventTarget();
    const foreign = Object.assign(target, { aborted: true, reason });
    expect(foreign instanceof AbortSignal).toBe(false);
    expect(await settled(supervisor.ready({ signal: foreign as unknown as AbortSignal }))).toBe(reason);
  });

  it('takes a signal that is not aborted, and leaves no listener on it', async () => {
    const supervisor = localSupervisor();
    const controller = new AbortController();
    await expect(supervisor.ready({ signal: controller.signal })).resolves.toBeUndefined();
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    await expect(supervisor.ready({ signal: undefined })).resolves.toBeUndefined();
    await expect(supervisor.ready({})).resolves.toBeUndefined();
  });

  it.each([
    ['null', null, /ready options must be a plain object/],
    ['a string', 'soon', /ready options must be a plain object/],
    ['a number', 5_000, /ready options must be a plain object/],
    ['an unknown key', { timeout: 5_000 }, /unknown key timeout/],
    ['a misspelt signal', { sigal: AbortSignal.timeout(1) }, /unknown key sigal/],
    ['a signal that is not an AbortSignal', { signal: { aborted: false } }, /signal must be an AbortSignal/],
    ['an AbortController for its signal', { signal: new AbortController() }, /signal must be an AbortSignal/],
    [
      'a signal where the options go',
      new AbortController().signal,
      /got an AbortSignal: to stop the wait with this signal, pass \{ signal \}/,
    ],
    [
      'an AbortController where the options go',
      new AbortController(),
      /pass \{ signal: controller.signal \}/,
    ],
    ['a Map', new Map([['signal', AbortSignal.timeout(1)]]), /ready options must be a plain object/],
  ])('rejects with WSSUP_INVALID_ARGUMENT for %s', async (_, options, message) => {
    const supervisor = localSupervisor();
    const call = () => supervisor.ready(options as never);
    // Rejects, never throws, as shutdown() (CommonJS trial): one .catch() sees every failure.
    await expect(call()).rejects.toThrow(SupervisorError);
    await expect(call()).rejects.toThrow(message);
    await expect(call()).rejects.toThrow(expect.objectContaining({ code: 'WSSUP_INVALID_ARGUMENT' }));
  });

  it('rejects, never throws, when a signal-like object throws as its fields are read', async () => {
    const supervisor = localSupervisor();
    const bug = new Error('getter bug');
    const signal = {
      aborted: true,
      get reason(): unknown {
        throw bug;
      },
      addEventListener: () => {},
      removeEventListener: () => {},
    };
    let result: Promise<void> | undefined;
    expect(() => {
      result = supervisor.ready({ signal } as never);
    }).not.toThrow();
    await expect(result).rejects.toBe(bug);
  });
});
