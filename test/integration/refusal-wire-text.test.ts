/**
 * A refusal's words on the wire follow one rule (src/refusal-text.ts), the one the client reads
 * a refused upgrade's body by: one line, no control or format character, no
 * `retry-after=<digits>` of the app's own. With `refuse: 'close'` (the only refusal a browser
 * can read) the close reason is the message cleaned, then cut to 123 bytes, then the real hint;
 * over HTTP the body is the same line, uncut. The Refusal's own message stays as the app gave it.
 * Real servers on port 0, read by a raw `ws` client and by the library's client.
 */
import { once } from 'node:events';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import WebSocket from 'ws';
import { Refusal } from '../../src/index.js';
import { startClient } from '../client/helpers.js';
import { closeRefusal, httpRefusal } from '../helpers/refusals.js';
import { startRulesServer } from '../helpers/rules.js';
import { expectNoLeaks, ioWait } from '../helpers/server.js';

/** Each unprintable kind once: a newline, a bidi override, a zero-width space, a line separator. */
const MESSY = 'line one\nline two\u202e end\u200bzero\u2028sep';
const CLEAN = 'line one line two end zero sep';

/** A server whose authenticate throws `refusal`, refusing by `refuse`; the Refusals it threw. */
async function refusingServer(refuse: 'close' | 'http', refusal: () => Refusal) {
  const thrown: Refusal[] = [];
  const t = await startRulesServer({
    refuse,
    authenticate: () => {
      const made = refusal();
      thrown.push(made);
      throw made;
    },
  });
  return { t, thrown };
}

describe("a refusal's wire text", () => {
  it("refuse: 'close': newline, bidi override, zero-width space and U+2028 reach the client as spaces", async () => {
    const { t, thrown } = await refusingServer(
      'close',
      () => new Refusal(429, MESSY, { retryAfterMs: 2_000 }),
    );
    expect(await closeRefusal(t.url('ann'))).toEqual({
      code: 4429,
      reason: `${CLEAN} refusal=refused retry-after=2`,
      retryAfter: 2,
    });
    expect(thrown[0]?.message).toBe(MESSY); // the app's own, for its logs
    expect(t.events.rejected).toMatchObject([{ via: 'close', message: CLEAN }]);
    await vi.waitFor(() => expect(t.supervisor.stats().resources.closeRefusals).toBe(0), ioWait);
    expectNoLeaks(t.supervisor);
  });

  it('over HTTP the body is the same line, uncut (curl reads what a close reason would say)', async () => {
    const { t } = await refusingServer('http', () => new Refusal(403, `${MESSY} retry-after=999`));
    const refused = await httpRefusal(t.url('ann'));
    expect(refused).toMatchObject({ status: 403, body: `${CLEAN}\n` });
    expect(refused.headers['retry-after']).toBeUndefined();
    expect(t.events.rejected).toMatchObject([{ via: 'http', message: CLEAN }]);
  });

  it("an app's ` retry-after=999` with no hint given is no hint: raw ws and the library's client read none", async () => {
    const { t } = await refusingServer('close', () => new Refusal(403, 'denied retry-after=999'));
    expect(await closeRefusal(t.url('ann'))).toEqual({
      code: 4403,
      reason: 'denied refusal=refused',
      retryAfter: undefined,
    });
    const client = startClient({ url: t.url('bob') });
    expect(await client.next('close')).toMatchObject({
      code: 4403,
      reason: 'denied',
      retryAfterMs: undefined,
    });
  });

  it("an app's hint-like text beside a real hint: only the real one is sent", async () => {
    const { t } = await refusingServer(
      'close',
      () => new Refusal(429, 'RETRY-AFTER=7 slow down retry-after=999', { retryAfterMs: 3_000 }),
    );
    expect(await closeRefusal(t.url('ann'))).toEqual({
      code: 4429,
      reason: 'slow down refusal=refused retry-after=3',
      retryAfter: 3,
    });
    const client = startClient({ url: t.url('bob') });
    expect(await client.next('close')).toMatchObject({
      code: 4429,
      reason: 'slow down',
      retryAfterMs: 3_000,
    });
  });

  it('cleaned before the cut: at most 123 bytes, one line, the real hint last and alone', async () => {
    const long = `${'\n\u202e'.repeat(40)}${'é\u200b'.repeat(80)} retry-after=999`;
    const { t } = await refusingServer('close', () => new Refusal(503, long, { retryAfterMs: 1_500 }));
    const { reason, retryAfter } = await closeRefusal(t.url('ann'));
    expect(Buffer.byteLength(reason)).toBeLessThanOrEqual(123);
    expect(retryAfter).toBe(2);
    expect(reason).toMatch(/^é( é)+ refusal=refused retry-after=2$/);
    expect(reason.match(/retry-after/g)).toHaveLength(1);
    expect(reason.match(/refusal=/g)).toHaveLength(1);
    // The cut counted the bytes sent: the cleaned text fills the room, not its unprintable characters.
    expect(Buffer.byteLength(reason)).toBeGreaterThan(123 - 4);
  });

  // UTF-8 cannot carry a lone surrogate: the wire has U+FFFD (EF BF BD) in its place, and so
  // must the event that says what was sent. A valid pair (an emoji) goes as it is.
  it('a lone surrogate is U+FFFD in the close reason, the HTTP body and the event alike', async () => {
    const lone = 'half \ud83d of \ude00 it, \ud83d\ude00 whole';
    const sent = 'half \ufffd of \ufffd it, \ud83d\ude00 whole';
    const closing = await refusingServer('close', () => new Refusal(403, lone));
    const raw = new WebSocket(closing.t.url('ann'));
    onTestFinished(() => raw.terminate());
    const [code, reason] = (await once(raw, 'close')) as [number, Buffer];
    expect(code).toBe(4403);
    expect(reason.equals(Buffer.from(`${sent} refusal=refused`))).toBe(true);
    expect(closing.t.events.rejected).toMatchObject([{ via: 'close', message: sent }]);

    const http = await refusingServer('http', () => new Refusal(403, lone));
    expect(await httpRefusal(http.t.url('ann'))).toMatchObject({ status: 403, body: `${sent}\n` });
    expect(http.t.events.rejected).toMatchObject([{ via: 'http', message: sent }]);
  });

  // The app's close before the handshake finished is cleaned by the same rule: its
  // `retry-after=30` is no hint the server gave (over HTTP it gets the `refused` 5 s).
  it("an app's close before the handshake: its reason cleaned, no hint of its own, in the close frame and the body", async () => {
    for (const refuse of ['close', 'http'] as const) {
      const t = await startRulesServer({ refuse });
      t.supervisor.on('admitted', ({ connectionId }) =>
        t.supervisor.connection(connectionId)?.close(4429, 'slow\nretry-after=30 down'),
      );
      if (refuse === 'close') {
        expect(await closeRefusal(t.url('kim'))).toEqual({
          code: 4429,
          reason: 'slow down',
          retryAfter: undefined,
        });
      } else {
        const refused = await httpRefusal(t.url('kim'));
        expect(refused).toMatchObject({ status: 429, body: 'slow down\n' });
        expect(refused.headers['retry-after']).toBe('5');
      }
      expect(t.events.disposed).toMatchObject([{ userId: 'kim', reason: 'app-close' }]);
      await vi.waitFor(() => expect(t.supervisor.stats().resources.closeRefusals).toBe(0), ioWait);
      expectNoLeaks(t.supervisor);
    }
  });

  it("an app's close whose reason cleans to nothing: an empty reason, and the status text as the body", async () => {
    const t = await startRulesServer({ refuse: 'http' });
    t.supervisor.on('admitted', ({ connectionId }) =>
      t.supervisor.connection(connectionId)?.close(4403, 'retry-after=30'),
    );
    expect(await httpRefusal(t.url('kim'))).toMatchObject({ status: 403, body: 'Forbidden\n' });
  });
});
