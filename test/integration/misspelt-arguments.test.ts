/**
 * A misspelt key is refused, never ignored (a new-user trial): in what
 * authenticate returns (`expiresAtMs` kept a session open forever), in the
 * connection handle's send options (`{ bin: true }` sent text), and an async
 * broadcast filter (its Promise counted as true: everyone got the message).
 * Real servers on port 0, real clients; the clock never moves.
 */
import { describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import { SimulatedClock } from 'xstate';
import {
  AppHookError,
  type AuthResult,
  type ConnectionHandle,
  SupervisorError,
  type SupervisorOptions,
} from '../../src/index.js';
import { refusal } from '../helpers/rules.js';
import { allDisposed, connect, expectNoLeaks, startServer, userFromQuery } from '../helpers/server.js';
import { recordUnhandledRejections } from '../helpers/unhandled-rejections.js';

const startQuietServer = (options: Partial<SupervisorOptions> = {}) =>
  startServer({ clock: new SimulatedClock(), ...options });

/** What a call threw, as `code: message`, or 'no error'. */
function thrownBy(call: () => unknown): string {
  try {
    call();
  } catch (error) {
    expect(error).toBeInstanceOf(SupervisorError);
    return `${(error as SupervisorError).code}: ${(error as Error).message}`;
  }
  return 'no error';
}

describe('authenticate: a key it does not know refuses the upgrade, as a wrong-typed known key does', () => {
  const inAMinute = () => Date.now() + 60_000;
  const cases: [string, () => unknown, RegExp[]][] = [
    [
      "the trial's result: three misspelt keys",
      () => ({
        userId: 'alice',
        maxConnectionPerUser: 1,
        expiresAtMs: inAMinute(),
        date: { plan: 'free' },
      }),
      [
        /"maxConnectionPerUser" \(did you mean "maxConnectionsPerUser"\?\)/,
        /"expiresAtMs" \(did you mean "expiresAt"\?\)/,
        /"date" \(did you mean "data"\?\)/,
      ],
    ],
    [
      'an async authenticate resolving to one',
      async () => ({ userId: 'alice', expiresAtMs: inAMinute() }),
      [/unknown key "expiresAtMs" \(did you mean "expiresAt"\?\)/],
    ],
    [
      'a key near none of them: the known keys are listed',
      () => ({ userId: 'alice', plan: 'pro' }),
      [
        /unknown key "plan";/,
        /its keys are userId, correlationId, data, expiresAt, maxConnectionsPerUser and atLimit/,
        /the app's own values go in data/,
      ],
    ],
    [
      'a misspelt key whose value is undefined (a token without exp, this time)',
      () => ({ userId: 'alice', expiresAtMs: undefined }),
      [/unknown key "expiresAtMs" \(did you mean "expiresAt"\?\)/],
    ],
  ];

  it.each(cases)(
    '%s: HTTP 500 auth-failed, reported to onError, nothing admitted',
    async (_name, authenticate, said) => {
      const t = await startQuietServer({
        authenticate: (request) =>
          userFromQuery(request) === 'bystander' ? 'bystander' : (authenticate() as AuthResult),
      });
      const bystander = await connect(t.url('bystander'));
      const rejected: unknown[] = [];
      t.supervisor.on('rejected', (event) => rejected.push(event));
      const before = t.supervisor.stats();

      const answer = await refusal(t.url('whoever'));

      expect(answer).toEqual({ status: 500, body: 'authentication failed\n' });
      expect(rejected).toMatchObject([{ reason: 'auth-failed', status: 500, userId: 'alice' }]);
      expect(t.errors).toHaveLength(1);
      const [error] = t.errors as [AppHookError];
      expect(error).toBeInstanceOf(AppHookError);
      expect(error).toMatchObject({ code: 'WSSUP_APP_HOOK_FAILED', hook: 'authenticate' });
      expect(error.cause).toBeInstanceOf(TypeError);
      for (const words of said) expect((error.cause as Error).message).toMatch(words);
      expect((error.cause as Error).message).toMatch(/^authenticate returned .*; the upgrade was refused/);
      const after = t.supervisor.stats();
      expect(after.resources).toEqual(before.resources);
      expect(after.counters.admitted).toBe(before.counters.admitted);
      expect(t.supervisor.userStats('alice')).toBeUndefined();
      bystander.close();
      await allDisposed(t.supervisor);
      expectNoLeaks(t.supervisor);
    },
  );

  it('every documented shape is still admitted, and nothing is reported', async () => {
    const results: Record<string, AuthResult<{ plan: string }>> = {
      bare: 'bare',
      minimal: { userId: 'minimal' },
      full: {
        userId: 'full',
        correlationId: null,
        data: { plan: 'pro' },
        expiresAt: inAMinute(),
        maxConnectionsPerUser: 3,
      },
      undefinedKeys: {
        userId: 'undefinedKeys',
        correlationId: undefined,
        data: undefined,
        expiresAt: undefined,
        maxConnectionsPerUser: undefined,
      },
    };
    const t = await startQuietServer({ authenticate: (request) => results[userFromQuery(request) ?? ''] });
    const sockets: WebSocket[] = [];
    for (const user of Object.keys(results)) sockets.push(await connect(t.url(user)));
    expect(t.supervisor.stats().counters.admitted).toBe(4);
    expect(t.supervisor.connectionsOf('full')[0]).toMatchObject({ data: { plan: 'pro' } });
    expect(t.supervisor.userStats('full')).toMatchObject({ limit: 3 });
    expect(t.errors).toEqual([]);
    for (const socket of sockets) socket.close();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });
});

describe("connection.send(): an option it does not know throws as sendToUser's does", () => {
  it("{ bin: true } and ws's own framing options throw WSSUP_INVALID_ARGUMENT and send nothing", async () => {
    const outcomes: Record<string, string> = {};
    const t = await startQuietServer({
      onMessage: (connection: ConnectionHandle) => {
        const send = connection.send.bind(connection) as (data: unknown, options?: unknown) => boolean;
        outcomes.bin = thrownBy(() => send('bin', { bin: true }));
        outcomes.binaryAndMore = thrownBy(() => send('more', { binary: false, Binary: true }));
        outcomes.compress = thrownBy(() => send('compress', { binary: false, compress: false }));
        outcomes.sendToUser = thrownBy(() =>
          t.supervisor.sendToUser(connection.userId, 'x', { bin: true } as never),
        );
        outcomes.binary = thrownBy(() => send(Buffer.from('binary'), { binary: true }));
        outcomes.none = thrownBy(() => send('none'));
      },
    });
    const ws = await connect(t.url('sender'));
    const received: string[] = [];
    ws.on('message', (data) => received.push(String(data)));
    ws.send('go');
    // Only the two good sends reached the peer.
    await expect.poll(() => received).toEqual(['binary', 'none']);
    expect(outcomes).toEqual({
      bin: 'WSSUP_INVALID_ARGUMENT: send options: unknown key bin, expected one of binary, volatile',
      binaryAndMore:
        'WSSUP_INVALID_ARGUMENT: send options: unknown key Binary, expected one of binary, volatile',
      compress: expect.stringMatching(
        /^WSSUP_INVALID_ARGUMENT: send options: unknown key compress, expected one of binary, volatile \(ws's .*\)$/,
      ),
      sendToUser:
        'WSSUP_INVALID_ARGUMENT: sendToUser options: unknown key bin, expected one of binary, volatile, cluster',
      binary: 'no error',
      none: 'no error',
    });
    expect(t.supervisor.stats().byState).toMatchObject({ active: 1, draining: 0 });
    ws.close();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
    expect(t.errors).toEqual([]);
  });
});

describe('broadcast(data, { filter }): an async filter is refused before anything is sent', () => {
  /** Three open clients, each recording what it reads. */
  async function threeClients() {
    const t = await startQuietServer();
    const received: Record<string, string[]> = {};
    const sockets: WebSocket[] = [];
    for (const user of ['ann', 'bob', 'cid']) {
      const ws = await connect(t.url(user));
      received[user] = [];
      ws.on('message', (data) => received[user]?.push(String(data)));
      sockets.push(ws);
    }
    const finish = async () => {
      for (const ws of sockets) ws.close();
      await allDisposed(t.supervisor);
      expectNoLeaks(t.supervisor);
    };
    return { t, received, sockets, finish };
  }

  it.each([
    ['an async filter', async () => true],
    [
      'a filter that answers a Promise for the last connection only',
      (c: ConnectionHandle) => (c.userId === 'cid' ? Promise.resolve(false) : true),
    ],
    [
      'a filter that answers a thenable',
      // biome-ignore lint/suspicious/noThenProperty: a thenable on purpose
      () => ({ then: (resolve: (value: boolean) => void) => resolve(true) }),
    ],
  ])('%s: WSSUP_INVALID_ARGUMENT, and no connection gets the message', async (_name, filter) => {
    const { t, received, finish } = await threeClients();
    const broadcast = t.supervisor.broadcast as (data: string, options: { filter: unknown }) => number;
    expect(thrownBy(() => broadcast('everyone?', { filter }))).toMatch(
      /^WSSUP_INVALID_ARGUMENT: broadcast: options\.filter must be synchronous and return a boolean, got an? \w+ \(an async filter\?\); nothing was sent$/,
    );
    // The next broadcast is the first message each one reads.
    expect(t.supervisor.broadcast('after')).toBe(3);
    await expect.poll(() => received).toEqual({ ann: ['after'], bob: ['after'], cid: ['after'] });
    expect(t.errors).toEqual([]);
    await finish();
  });

  it('an async filter that rejects leaves no unhandled rejection behind', async () => {
    const unhandled = recordUnhandledRejections();
    const { t, finish } = await threeClients();
    const filter = async () => {
      throw new Error('filter failed');
    };
    expect(thrownBy(() => t.supervisor.broadcast('x', { filter } as never))).toMatch(/must be synchronous/);
    // Node reports an unhandled rejection after the microtasks of the turn that made it.
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    expect(unhandled).toEqual([]);
    await finish();
  });

  it('a truthy answer that is not a boolean still counts as true, as for Array.prototype.filter', async () => {
    const { t, received, finish } = await threeClients();
    const answers: Record<string, unknown> = { ann: 'yes', bob: 0, cid: undefined };
    const filter = (c: ConnectionHandle) => answers[c.userId] as boolean;
    expect(t.supervisor.broadcast('to ann', { filter })).toBe(1);
    await expect.poll(() => received.ann).toEqual(['to ann']);
    expect(t.supervisor.broadcast('after')).toBe(3);
    await expect.poll(() => received).toEqual({ ann: ['to ann', 'after'], bob: ['after'], cid: ['after'] });
    await finish();
  });
});
