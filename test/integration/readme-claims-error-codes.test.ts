/**
 * README, "Error codes": each code is thrown or reported where its row says,
 * with that exact code string. Most rows are proven elsewhere (bad-input,
 * attach, supervisor-failure, admission-failure, optional-peer, ws-peer,
 * the cluster and client suites, errors-from-another-copy; serveForTest()'s bad
 * arguments in test/testing/serve-for-test.test.ts); these are the
 * claims that had no test. Real sockets on port 0.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import { Worker } from 'node:worker_threads';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import {
  AppHookError,
  type ConnectionHandle,
  SlotStoreUnavailableError,
  SupervisorError,
  type SupervisorEventName,
} from '../../src/index.js';
import { httpRefusal } from '../helpers/refusals.js';
import { allDisposed, connect, expectNoLeaks, ioWait, startServer } from '../helpers/server.js';

describe('WSSUP_APP_HOOK_FAILED: an app hook or event listener threw or rejected', () => {
  // The row: "AppHookError with hook, connectionId, cause". A listener of a connection's
  // event was reported with connectionId undefined, so the app could not tell which
  // connection its listener failed on.
  it.each<[SupervisorEventName, 'throws' | 'rejects']>([
    ['admitted', 'throws'],
    ['admitted', 'rejects'],
    ['disposed', 'throws'],
    ['disposed', 'rejects'],
  ])(
    "a listener of '%s' that %s: AppHookError with its hook, the connection's id and the cause; the connection still reaches disposed",
    async (name, how) => {
      const t = await startServer();
      const cause = new Error(`${name} listener bug`);
      t.supervisor.on(name, (() => {
        if (how === 'throws') throw cause;
        return Promise.reject(cause);
      }) as never);
      const ids: string[] = [];
      t.supervisor.on('admitted', (event) => void ids.push(event.connectionId));
      const ws = await connect(t.url('ada'));
      ws.close();
      await allDisposed(t.supervisor);
      await vi.waitFor(() => expect(t.errors).toHaveLength(1), ioWait);
      const [error] = t.errors;
      expect(error).toBeInstanceOf(AppHookError);
      expect(error).toMatchObject({
        code: 'WSSUP_APP_HOOK_FAILED',
        hook: `on('${name}')`,
        connectionId: ids[0],
        cause,
      });
      expect(t.disposed).toHaveLength(1);
      expectNoLeaks(t.supervisor);
    },
  );

  it.each(['onOpen', 'onMessage', 'onClose'] as const)(
    "a failing %s: AppHookError with hook, the connection's id and the cause; the connection still reaches disposed",
    async (hook) => {
      const cause = new Error(`${hook} bug`);
      const fail = () => {
        throw cause;
      };
      const t = await startServer({ [hook]: fail });
      const ids: string[] = [];
      t.supervisor.on('admitted', (event) => void ids.push(event.connectionId));
      const ws = await connect(t.url('ada'));
      if (hook === 'onMessage') ws.send('hi');
      else ws.close();
      await allDisposed(t.supervisor);
      await vi.waitFor(() => expect(t.errors).toHaveLength(1), ioWait);
      expect(t.errors[0]).toMatchObject({
        code: 'WSSUP_APP_HOOK_FAILED',
        hook,
        connectionId: ids[0],
        cause,
      });
      expect(t.disposed).toHaveLength(1);
      expectNoLeaks(t.supervisor);
    },
  );

  it("an authenticate that returned a user id that is not a string: hook 'authenticate', cause a TypeError naming what it returned; the client gets a 500 auth-failed (retried), not a 400", async () => {
    const t = await startServer({ authenticate: () => ({ userId: 7 as unknown as string }) });
    const rejected: unknown[] = [];
    t.supervisor.on('rejected', (event) => void rejected.push(event.reason));
    expect((await httpRefusal(t.url('ada'))).status).toBe(500);
    expect(rejected).toEqual(['auth-failed']);
    expect(t.errors).toHaveLength(1);
    const [error] = t.errors as [AppHookError];
    expect(error).toMatchObject({ code: 'WSSUP_APP_HOOK_FAILED', hook: 'authenticate' });
    expect(error.cause).toBeInstanceOf(TypeError);
    expect((error.cause as TypeError).message).toMatch(/userId is 7/);
    expectNoLeaks(t.supervisor);
  });
});

describe('WSSUP_INVALID_ARGUMENT: a method was called with a bad argument', () => {
  it('an invalid user id given to userStats(), connectionsOf() or another method that takes one', async () => {
    const t = await startServer();
    const { supervisor } = t;
    const takesAUserId: Array<[string, (userId: string) => unknown]> = [
      ['userStats', (userId) => supervisor.userStats(userId)],
      ['connectionsOf', (userId) => supervisor.connectionsOf(userId)],
      ['sendToUser', (userId) => supervisor.sendToUser(userId, 'hi')],
      ['disconnectUser', (userId) => supervisor.disconnectUser(userId)],
    ];
    for (const bad of ['', 'x'.repeat(129), 42, null]) {
      for (const [method, call] of takesAUserId) {
        expect(() => call(bad as string), `${method}(${String(bad)})`).toThrow(
          expect.objectContaining({ code: 'WSSUP_INVALID_ARGUMENT' }),
        );
      }
    }
  });

  it('a close code other than 1000, 1003, 1007, 1008 or 3000–4999', async () => {
    const handles: ConnectionHandle[] = [];
    const t = await startServer({ onOpen: (connection) => void handles.push(connection) });
    const handle = () => handles[0];
    const ws = await connect(t.url('ada'));
    for (const code of [999, 1001, 1002, 1011, 2999, 5000]) {
      expect(() => handle()?.close(code)).toThrow(
        expect.objectContaining({ code: 'WSSUP_INVALID_ARGUMENT' }),
      );
      expect(() => t.supervisor.disconnectUser('ada', code)).toThrow(
        expect.objectContaining({ code: 'WSSUP_INVALID_ARGUMENT' }),
      );
    }
    expect(t.supervisor.stats().connections).toBe(1); // nothing was closed
    ws.close();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });

  it('{ cluster: true } without the cluster option', async () => {
    const t = await startServer();
    const calls = [
      () => t.supervisor.stats({ cluster: true }),
      () => t.supervisor.userStats('ada', { cluster: true }),
      () => t.supervisor.sendToUser('ada', 'hi', { cluster: true }),
      () => t.supervisor.disconnectUser('ada', 1000, '', { cluster: true }),
    ];
    for (const call of calls) {
      let outcome: unknown;
      try {
        outcome = await call();
      } catch (error) {
        outcome = error;
      }
      expect(outcome).toBeInstanceOf(SupervisorError);
      expect(outcome).toMatchObject({ code: 'WSSUP_INVALID_ARGUMENT' });
    }
  });
});

describe('WSSUP_SHUTTING_DOWN: it accepts no new server or connection', () => {
  it('attach() after shutdown() throws it; an upgrade then gets 503', async () => {
    const t = await startServer();
    await t.supervisor.shutdown();
    expect(() => t.supervisor.attach(createServer())).toThrow(
      expect.objectContaining({ code: 'WSSUP_SHUTTING_DOWN' }),
    );
    expect((await httpRefusal(t.url('ada'))).status).toBe(503);
  });
});

describe('instanceof across copies', () => {
  it("each copy marks its errors with Symbol.for('ws-supervisor.SupervisorError') and the names of their classes", () => {
    const mark = Symbol.for('ws-supervisor.SupervisorError');
    const kinds = (error: Error) => (error as unknown as Record<symbol, unknown>)[mark];
    expect(kinds(new SupervisorError('WSSUP_INTERNAL', 'x'))).toEqual(['SupervisorError']);
    expect(kinds(new SlotStoreUnavailableError('redis away'))).toEqual([
      'SupervisorError',
      'SlotStoreUnavailableError',
    ]);
    expect(kinds(new AppHookError('onOpen', new Error('bug')))).toEqual(['SupervisorError', 'AppHookError']);
  });
});

describe('instanceof across copies: what it cannot recognise', () => {
  it('an error that crossed structuredClone() or a worker thread arrives as a plain Error without its code', async () => {
    const error = new SlotStoreUnavailableError('redis away');
    const worker = new Worker(
      "require('node:worker_threads').parentPort.once('message', (m) => require('node:worker_threads').parentPort.postMessage(m));",
      { eval: true },
    );
    onTestFinished(() => void worker.terminate());
    const echoed = once(worker, 'message');
    worker.postMessage(error);
    const [viaWorker] = (await echoed) as [unknown];
    for (const crossed of [structuredClone(error), viaWorker]) {
      expect(crossed).toBeInstanceOf(Error);
      expect(Object.getPrototypeOf(crossed)).toBe(Error.prototype);
      expect((crossed as { code?: unknown }).code).toBeUndefined();
      expect(crossed instanceof SupervisorError).toBe(false);
      expect(crossed instanceof SlotStoreUnavailableError).toBe(false);
      expect((crossed as Error).message).toBe(error.message);
    }
  });
});
