/**
 * README, "Options" and "App data on each connection": the claims
 * options.test.ts, options-readme.test.ts (every preset cell and every stated
 * numeric bound), refusals.test.ts, identity.test.ts and
 * session-expiry.test.ts did not prove. Real sockets on port 0 where a
 * connection is involved.
 */
import { createServer } from 'node:http';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import {
  type ConnectionHandle,
  createSupervisor,
  InvalidOptionError,
  resolveOptions,
} from '../../src/index.js';
import { httpRefusal } from '../helpers/refusals.js';
import { startRulesServer } from '../helpers/rules.js';
import {
  allDisposed,
  closeServer,
  connect,
  expectNoLeaks,
  ioWait,
  listenOnLoopback,
  startServer,
  userFromQuery,
} from '../helpers/server.js';

const authenticate = () => 'user';

describe('Options', () => {
  it('heartbeatMessage: at most 125 bytes counted in UTF-8, not in characters', () => {
    const ok = `${'é'.repeat(62)}a`; // 63 characters, 125 bytes
    expect(resolveOptions({ authenticate, heartbeatMessage: ok }).heartbeatMessage).toBe(ok);
    const over = 'é'.repeat(63); // 63 characters, 126 bytes
    expect(() => resolveOptions({ authenticate, heartbeatMessage: over })).toThrow(
      expect.objectContaining({ code: 'WSSUP_INVALID_OPTION', option: 'heartbeatMessage' }),
    );
  });

  // The Allowed column says "positive integer", and so did the error, while 2^53 (an integer, and
  // positive) was refused with "expected a positive integer ..., received 9007199254740992".
  it('maxConnections: any positive integer; 0, fractions, Infinity and NaN are refused', () => {
    for (const cap of [1, 2 ** 31, 2 ** 53, 1e21]) {
      expect(resolveOptions({ authenticate, maxConnections: cap }).maxConnections).toBe(cap);
    }
    for (const bad of [0, -1, 1.5, Number.POSITIVE_INFINITY, Number.NaN, '10']) {
      expect(() => resolveOptions({ authenticate, maxConnections: bad as number })).toThrow(
        expect.objectContaining({ code: 'WSSUP_INVALID_OPTION', option: 'maxConnections' }),
      );
    }
  });

  it('capacityLevels: [] for none, and up to 16 levels', () => {
    expect(resolveOptions({ authenticate, capacityLevels: [] }).capacityLevels).toEqual([]);
    const sixteen = Array.from({ length: 16 }, (_, i) => (i + 1) / 16);
    expect(resolveOptions({ authenticate, capacityLevels: sixteen }).capacityLevels).toEqual(sixteen);
  });

  it('retryAfterMs: each value of the object by reason is an integer ms 0–2147483647', () => {
    for (const reason of ['user-limit', 'process-limit', 'shutting-down', 'refused'] as const) {
      for (const ms of [0, 2_147_483_647]) {
        expect(resolveOptions({ authenticate, retryAfterMs: { [reason]: ms } }).retryAfterMs[reason]).toBe(
          ms,
        );
      }
      for (const ms of [-1, 2_147_483_648, 1.5, Number.NaN]) {
        expect(() => resolveOptions({ authenticate, retryAfterMs: { [reason]: ms } })).toThrow(
          expect.objectContaining({ code: 'WSSUP_INVALID_OPTION', option: `retryAfterMs.${reason}` }),
        );
      }
    }
  });

  it("maxCloseRefusals: 0 (its lower bound) sends every refusal over HTTP, even with refuse: 'close'", async () => {
    const t = await startRulesServer({ refuse: 'close', maxCloseRefusals: 0, maxConnectionsPerUser: 1 });
    const held = await t.open('amy');
    const answer = await httpRefusal(t.url('amy'));
    expect(answer.status).toBe(429);
    expect(answer.headers['retry-after']).toBe('5');
    expect(t.events.rejected).toMatchObject([{ reason: 'user-limit', via: 'http' }]);
    held.ws.close();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });

  it('an unknown option name is refused even when its value is undefined (a typo cannot fall back to a default)', () => {
    expect(() => resolveOptions({ authenticate, idleTimeout: undefined } as never)).toThrow(
      InvalidOptionError,
    );
  });

  it('onError defaults to console.error, which gets the SupervisorError', async () => {
    const printed: unknown[] = [];
    const spy = vi.spyOn(console, 'error').mockImplementation((...args) => void printed.push(...args));
    onTestFinished(() => spy.mockRestore());
    const supervisor = createSupervisor({ preset: 'test', authenticate: userFromQuery });
    onTestFinished(() => supervisor.shutdown());
    const server = createServer();
    supervisor.attach(server);
    const port = await listenOnLoopback(server);
    onTestFinished(() => closeServer(server));
    const cause = new Error('listener bug');
    supervisor.on('admitted', () => {
      throw cause;
    });
    const ws = await connect(`ws://127.0.0.1:${port}/?user=ada`);
    await vi.waitFor(() => expect(printed).toHaveLength(1), ioWait);
    expect(printed[0]).toMatchObject({ code: 'WSSUP_APP_HOOK_FAILED', cause });
    ws.close();
    await allDisposed(supervisor);
  });
});

describe('the connection handle', () => {
  it('socket is undefined while connecting (in an admitted listener, and from connectionsOf()), send() is false there; then it is the ws socket', async () => {
    const t = await startServer();
    const whileConnecting: Array<[unknown, unknown, boolean]> = [];
    t.supervisor.on('admitted', (event) => {
      const handle = t.supervisor.connection(event.connectionId) as ConnectionHandle;
      const [listed] = t.supervisor.connectionsOf(event.userId);
      whileConnecting.push([handle.socket, listed?.socket, handle.send('too early')]);
    });
    const ws = await connect(t.url('ada'));
    expect(whileConnecting).toEqual([[undefined, undefined, false]]);
    const [open] = t.supervisor.connectionsOf('ada');
    expect(open?.socket?.readyState).toBe(1);
    ws.close();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });

  it('close() defaults to code 1000 and an empty reason', async () => {
    const handles: ConnectionHandle[] = [];
    const t = await startServer({ onOpen: (connection) => void handles.push(connection) });
    const ws = await connect(t.url('ada'));
    const closing = new Promise<[number, string]>((resolve) =>
      ws.once('close', (code, reason) => resolve([code, reason.toString()])),
    );
    handles[0]?.close();
    expect(await closing).toEqual([1000, '']);
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });
});

describe('App data on each connection', () => {
  it('data is undefined when authenticate returned { userId } without data', async () => {
    const t = await startRulesServer({
      authenticate: (request) => ({ userId: userFromQuery(request) ?? '' }),
    });
    const { ws, handle } = await t.open('ada');
    expect(handle.data).toBeUndefined();
    ws.close();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });

  it('a string correlationId is on the handle and in the admitted event', async () => {
    const t = await startRulesServer({
      authenticate: (request) => ({ userId: userFromQuery(request) ?? '', correlationId: 'req-7' }),
    });
    const { ws, handle } = await t.open('ada');
    expect(handle.correlationId).toBe('req-7');
    expect(t.events.admitted).toMatchObject([{ userId: 'ada', correlationId: 'req-7' }]);
    ws.close();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });
});
