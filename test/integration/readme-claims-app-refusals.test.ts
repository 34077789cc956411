/**
 * README, "Refusals the app chooses": the claims refusals.test.ts and
 * refusal-from-another-copy.test.ts did not prove. A `Refusal` this copy
 * cannot honour (another copy's with a status this version does not know, or
 * one from a version without the mark) is answered as any other value that is
 * not a user id: returned, HTTP 500 and onError says it is another copy's
 * `Refusal`; thrown, HTTP 500 and an `AppHookError` with it as `cause`. And a
 * 403 `Refusal` with `retryAfterMs` sends it too (the 401 case is in
 * refusals.test.ts). Real sockets on port 0.
 */
import { describe, expect, it, vi } from 'vitest';
import { SimulatedClock } from 'xstate';
import { AppHookError, Refusal } from '../../src/index.js';
import { MemoryBook } from '../helpers/memory-slot-store.js';
import { httpRefusal } from '../helpers/refusals.js';
import { startRulesServer } from '../helpers/rules.js';
import { loadSecondCopy } from '../helpers/second-copy.js';
import { allDisposed, expectNoLeaks, ioWait } from '../helpers/server.js';

/** Another copy's Refusal with a status this version does not know (what a later version may have). */
async function unknownStatus(): Promise<Refusal> {
  const other = await loadSecondCopy();
  const foreign = new other.Refusal(403, 'nope');
  Object.defineProperty(foreign, 'status', { value: 418 });
  return foreign as Refusal;
}

/** A Refusal of a version that sets no mark: an Error named Refusal, with a status. */
function unmarked(): Refusal {
  const old = Object.assign(new Error('account suspended'), { status: 403, retryAfterMs: undefined });
  old.name = 'Refusal';
  return old as unknown as Refusal;
}

describe('a Refusal from another copy', () => {
  it("is recognised by the mark each copy’s constructor sets: Symbol.for('ws-supervisor.Refusal')", () => {
    const mark = Symbol.for('ws-supervisor.Refusal');
    expect(Object.getOwnPropertySymbols(new Refusal(403))).toContain(mark);
    class Banned extends Refusal {}
    expect(Object.getOwnPropertySymbols(new Banned(403))).toContain(mark);
    // The mark alone makes a Refusal another copy's: copied onto a plain Error, instanceof says so.
    const marked = Object.assign(new Error('nope'), { status: 403, retryAfterMs: undefined });
    const own = new Refusal(403);
    Object.defineProperty(marked, mark, { value: (own as unknown as Record<symbol, unknown>)[mark] });
    expect(marked instanceof Refusal).toBe(true);
    expect(unmarked() instanceof Refusal).toBe(false);
  });
});

describe('a Refusal this copy cannot honour', () => {
  it.each([
    ['another copy’s, with a status this version does not know', unknownStatus],
    ['from a version without the mark', async () => unmarked()],
  ])('%s, returned: HTTP 500, and onError says it is another copy’s Refusal', async (_name, make) => {
    const foreign = await make();
    expect(foreign instanceof Refusal).toBe(false);
    const t = await startRulesServer({ authenticate: () => foreign });
    expect((await httpRefusal(t.url('ada'))).status).toBe(500);
    expect(t.errors).toHaveLength(1);
    const [error] = t.errors.splice(0) as [AppHookError];
    expect(error).toMatchObject({ code: 'WSSUP_APP_HOOK_FAILED', hook: 'authenticate' });
    expect(String(error.cause)).toMatch(/a Refusal \(status 4\d\d\) of another copy of ws-supervisor/);
    expectNoLeaks(t.supervisor);
  });

  it.each([
    ['another copy’s, with a status this version does not know', unknownStatus],
    ['from a version without the mark', async () => unmarked()],
  ])('%s, thrown: HTTP 500, and an AppHookError with it as cause', async (_name, make) => {
    const foreign = await make();
    const t = await startRulesServer({
      authenticate: () => {
        throw foreign;
      },
    });
    expect((await httpRefusal(t.url('ada'))).status).toBe(500);
    expect(t.events.rejected).toMatchObject([{ reason: 'auth-failed', status: 500 }]);
    expect(t.errors).toHaveLength(1);
    const [error] = t.errors.splice(0);
    expect(error).toBeInstanceOf(AppHookError);
    expect(error).toMatchObject({ code: 'WSSUP_APP_HOOK_FAILED', hook: 'authenticate' });
    expect(error?.cause).toBe(foreign);
    expectNoLeaks(t.supervisor);
  });
});

describe('Retry-After on a refusal the app chose', () => {
  it('a 403 Refusal with retryAfterMs sends it too, rounded up to whole seconds', async () => {
    const t = await startRulesServer({
      authenticate: () => new Refusal(403, 'come back later', { retryAfterMs: 1_200 }),
    });
    const answer = await httpRefusal(t.url('ada'));
    expect(answer.status).toBe(403);
    expect(answer.body).toBe('come back later\n');
    expect(answer.headers['retry-after']).toBe('2');
    expect(t.errors).toEqual([]);
    expectNoLeaks(t.supervisor);
  });

  it('a 403 Refusal without one sends none (only 429 and 503 get a default)', async () => {
    const t = await startRulesServer({ authenticate: () => new Refusal(403), retryAfterMs: 10_000 });
    const answer = await httpRefusal(t.url('ada'));
    expect(answer.status).toBe(403);
    expect(answer.body).toBe('Forbidden\n');
    expect(answer.headers['retry-after']).toBeUndefined();
    expectNoLeaks(t.supervisor);
  });
});

describe('the two hints the retryAfterMs option does not set', () => {
  it('the admission rate limit’s: the time until its next token, whatever retryAfterMs says', async () => {
    const t = await startRulesServer({
      retryAfterMs: 10_000,
      admissionRate: { perSecond: 0.5, burst: 1 },
      lingerMs: 60_000,
    });
    const held = await t.open('amy');
    const answer = await httpRefusal(t.url('amy'));
    expect(answer.status).toBe(429);
    expect(answer.headers['retry-after']).toBe('2');
    expect(t.events.rejected).toMatchObject([{ reason: 'rate-limited', retryAfterMs: 2_000 }]);
    held.ws.close();
    await allDisposed(t.supervisor);
    t.clock.increment(60_000);
    expectNoLeaks(t.supervisor);
  });

  it('the cluster’s unavailable store’s: 1 s, whatever retryAfterMs says', async () => {
    const clock = new SimulatedClock();
    const book = new MemoryBook(() => clock.now());
    const t = await startRulesServer({
      clock,
      retryAfterMs: 10_000,
      cluster: { store: book.store('node-0', 30_000), nodeId: 'node-0', onStoreUnavailable: 'reject' },
    });
    await vi.waitFor(() => expect(t.supervisor.stats().cluster?.leaseHeld).toBe(true), ioWait);
    book.down = true;
    const answer = await httpRefusal(t.url('amy'));
    expect(answer.status).toBe(503);
    expect(answer.headers['retry-after']).toBe('1');
    expect(t.events.rejected).toMatchObject([{ reason: 'store-unavailable', retryAfterMs: 1_000 }]);
    t.errors.splice(0); // the outage's WSSUP_STORE_UNAVAILABLE reports
    book.down = false;
  });
});
