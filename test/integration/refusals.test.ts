/**
 * Issue 11, items 2, 3 and 9, over HTTP (the default `refuse: 'http'`): the
 * app's own data on each connection, the app's own refusals (a Refusal
 * returned or thrown), `Retry-After` on every 429 and 503, and `rejected`
 * events that say who was refused. Time is a SimulatedClock never advanced.
 */
import { describe, expect, expectTypeOf, it, onTestFinished, vi } from 'vitest';
import { WebSocketServer } from 'ws';
import {
  AppHookError,
  type ConnectionHandle,
  createSupervisor,
  Refusal,
  type RejectedEvent,
  SupervisorError,
  type SupervisorOptions,
} from '../../src/index.js';
import { httpRefusal } from '../helpers/refusals.js';
import { refusal, startRulesServer, touch } from '../helpers/rules.js';
import { allDisposed, expectNoLeaks, ioWait, userFromQuery } from '../helpers/server.js';

describe('connection.data (item 2)', () => {
  it('carries what authenticate returned as data into onOpen, onMessage and onClose', async () => {
    interface Claims {
      plan: 'free' | 'pro';
      scopes: string[];
    }
    const seen: Array<[string, Claims | undefined]> = [];
    const record = (hook: string) => (connection: ConnectionHandle<Claims>) =>
      void seen.push([hook, connection.data]);
    const t = await startRulesServer({
      authenticate: (request) => {
        const user = userFromQuery(request);
        return user === 'bare' ? user : { userId: user ?? '', data: { plan: 'pro', scopes: [user ?? ''] } };
      },
      onOpen: record('onOpen') as never,
      onMessage: ((connection: ConnectionHandle<Claims>, data: Buffer) => {
        seen.push(['onMessage', connection.data]);
        connection.send(data, { binary: false });
      }) as never,
      onClose: record('onClose') as never,
    });
    const { ws, handle } = await t.open('alice');
    await touch(ws);
    expect(handle.data).toEqual({ plan: 'pro', scopes: ['alice'] });
    ws.close();
    await allDisposed(t.supervisor);
    expect(seen).toEqual([
      ['onOpen', { plan: 'pro', scopes: ['alice'] }],
      ['onMessage', { plan: 'pro', scopes: ['alice'] }],
      ['onClose', { plan: 'pro', scopes: ['alice'] }],
    ]);

    // A bare user id brings no data.
    const bare = await t.open('bare');
    expect(bare.handle.data).toBeUndefined();
    bare.ws.close();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
    expect(t.errors).toEqual([]);
  });

  it('is the very object authenticate returned, not a copy', async () => {
    const session = { plan: 'pro' as const, seen: 0 };
    const inHooks: unknown[] = [];
    const t = await startRulesServer({
      authenticate: (request) => ({ userId: userFromQuery(request) ?? '', data: session }),
      onOpen: (connection) => void inHooks.push(connection.data),
      onClose: (connection) => void inHooks.push(connection.data),
    });
    const { ws, handle } = await t.open('ada');
    expect(handle.data).toBe(session);
    ws.close();
    await allDisposed(t.supervisor);
    expect(inHooks).toHaveLength(2);
    for (const data of inHooks) expect(data).toBe(session);
    expectNoLeaks(t.supervisor);
  });

  it('is typed by createSupervisor<Data>() in every hook', () => {
    // Types only: nothing is started.
    type Options = SupervisorOptions<{ plan: 'pro' }>;
    type OnOpen = NonNullable<Options['onOpen']>;
    expectTypeOf<Parameters<OnOpen>[0]['data']>().toEqualTypeOf<{ plan: 'pro' } | undefined>();
    expectTypeOf(createSupervisor<{ plan: 'pro' }>)
      .parameter(0)
      .toEqualTypeOf<Options>();
    const wrong: Options['authenticate'] = () => ({
      userId: 'u',
      // @ts-expect-error: data must be of the supervisor's Data type
      data: { plan: 42 },
    });
    expect(typeof wrong).toBe('function');
  });
});

describe('Refusal (item 3)', () => {
  it.each([
    ['returned', false],
    ['thrown', true],
  ])(
    'a Refusal(403) %s by authenticate answers 403 with its message, and allocates nothing',
    async (_how, thrown) => {
      const t = await startRulesServer({
        authenticate: async (request) => {
          const user = userFromQuery(request);
          if (user !== 'banned') return user;
          const answer = new Refusal(403, 'account suspended');
          if (thrown) throw answer;
          return answer;
        },
      });
      const bystander = await t.open('bystander');
      const before = t.supervisor.stats();

      const answer = await httpRefusal(t.url('banned'), { headers: { 'user-agent': 'test-agent/1.0' } });

      expect(answer.status).toBe(403);
      expect(answer.body).toBe('account suspended\n');
      expect(answer.headers['retry-after']).toBeUndefined();
      expect(t.events.rejected).toEqual([
        {
          reason: 'refused',
          status: 403,
          userId: undefined,
          message: 'account suspended',
          via: 'http',
          remoteAddress: '127.0.0.1',
          userAgent: 'test-agent/1.0',
        } satisfies RejectedEvent,
      ]);
      expect(t.supervisor.stats().resources).toEqual(before.resources);
      expect(t.supervisor.stats().counters).toEqual({ ...before.counters, rejected: 1 });
      expect(t.errors).toEqual([]); // a thrown Refusal is an answer, not a failing hook
      bystander.ws.close();
      await allDisposed(t.supervisor);
      expectNoLeaks(t.supervisor);
    },
  );

  it.each([
    [429, 2_500, '3'],
    [503, 0, '0'],
    [429, undefined, '5'], // no hint of its own: the `refused` default
    [401, 1_000, '1'], // a hint the app gave is sent whatever the status
  ] as const)(
    'a Refusal(%i, { retryAfterMs: %s }) sends Retry-After: %s',
    async (status, retryAfterMs, header) => {
      const t = await startRulesServer({
        authenticate: () => new Refusal(status, 'not now', { retryAfterMs }),
      });
      const answer = await httpRefusal(t.url('anyone'));
      expect(answer.status).toBe(status);
      expect(answer.headers['retry-after']).toBe(header);
      expect(t.events.rejected[0]).toMatchObject({
        reason: 'refused',
        status,
        retryAfterMs: retryAfterMs ?? 5_000,
      });
      expectNoLeaks(t.supervisor);
    },
  );

  it('defaults its message to the status text', () => {
    expect(new Refusal(403).message).toBe('Forbidden');
    expect(new Refusal(429)).toMatchObject({ status: 429, retryAfterMs: undefined, name: 'Refusal' });
  });

  it.each([
    [[400], /status must be 401, 403, 429 or 503, got 400/],
    [[500], /got 500/],
    [['403'], /got "403"/], // the string, quoted: "got 403" looked like a valid status
    [[403, 42], /message must be a string/],
    // The options object in the message's place (a Refusal takes the message second): named.
    [
      [429, { retryAfterMs: 5_000 }],
      /^a Refusal's message must be a string, got an object \(options go third: new Refusal\(status, undefined, \{ retryAfterMs \}\)\)$/,
    ],
    [[403, 42], /^a Refusal's message must be a string, got 42$/],
    [[429, 'x', { retryAfterMs: -1 }], /retryAfterMs must be a finite number/],
    [[429, 'x', { retryAfterMs: Number.NaN }], /retryAfterMs must be a finite number/],
    [[429, 'x', { retryAfterMs: Number.POSITIVE_INFINITY }], /retryAfterMs must be a finite number/],
    // A misspelt or misplaced hint used to be dropped silently: the client got no Retry-After.
    [
      [429, 'x', { retryAfter: 5 }],
      /a Refusal's options: unknown key retryAfter, expected retryAfterMs, cause or userId/,
    ],
    [[429, 'x', 5_000], /a Refusal's options must be an object such as \{ retryAfterMs: 5000 \}, got 5000/],
    [[429, 'x', null], /a Refusal's options must be an object .*, got null/],
  ])('new Refusal(%j) throws WSSUP_INVALID_ARGUMENT', (args, message) => {
    const make = () => new Refusal(...(args as ConstructorParameters<typeof Refusal>));
    expect(make).toThrow(SupervisorError);
    expect(make).toThrow(message);
    try {
      make();
    } catch (error) {
      expect((error as SupervisorError).code).toBe('WSSUP_INVALID_ARGUMENT');
    }
  });

  // Error's own options convention: what made the app refuse rides along as `cause`, as with
  // any Error, and the refusal is made (it was ignored before options were checked).
  it('new Refusal(503, message, { cause }) keeps the cause, as an Error does', () => {
    const cause = new Error('database down');
    const refusal = new Refusal(503, 'try later', { cause, retryAfterMs: 2_000 });
    expect(refusal).toMatchObject({ status: 503, message: 'try later', retryAfterMs: 2_000 });
    expect(refusal.cause).toBe(cause);
    expect('cause' in new Refusal(503)).toBe(false);
  });
  it.each([
    ['status', '200', 200, /a Refusal's status must be 401, 403, 429 or 503, got 200/],
    [
      'retryAfterMs',
      'NaN',
      Number.NaN,
      /a Refusal's retryAfterMs must be a finite number of milliseconds >= 0, got NaN/,
    ],
    ['message', 'an object', { text: 'no' }, /a Refusal's message must be a string/],
  ] as const)(
    'a Refusal whose %s was changed to %s after it was made is not sent as it is: 500, reported',
    async (field, _label, value, problem) => {
      // JavaScript ignores `readonly`: the constructor's checks no longer hold.
      const t = await startRulesServer({
        authenticate: () => {
          const refusal = new Refusal(429, 'not now');
          Object.assign(refusal, { [field]: value });
          return refusal;
        },
      });
      const answer = await httpRefusal(t.url('anyone'));
      // Not HTTP 200 to an upgrade, nor `Retry-After: NaN`, nor a socket hung up on (WSSUP_INTERNAL).
      expect(answer).toMatchObject({ status: 500, body: 'authentication failed\n' });
      expect(answer.headers['retry-after']).toBeUndefined();
      expect(t.events.rejected).toMatchObject([{ reason: 'auth-failed', status: 500 }]);
      expect(t.errors).toHaveLength(1);
      expect(t.errors[0]).toMatchObject({ code: 'WSSUP_APP_HOOK_FAILED', hook: 'authenticate' });
      expect(t.errors[0]?.message).toMatch(problem);
      expectNoLeaks(t.supervisor);
    },
  );
});

describe("a Refusal's userId (README: whom the app refused, in the rejected event only)", () => {
  it.each([
    ['returned', false],
    ['thrown', true],
  ])(
    '%s: the rejected event carries it; the client reads the status and message only',
    async (_how, thrown) => {
      const t = await startRulesServer({
        authenticate: (request) => {
          const refusal = new Refusal(403, 'tenant suspended', { userId: `acme:${userFromQuery(request)}` });
          if (thrown) throw refusal;
          return refusal;
        },
      });
      const answer = await httpRefusal(t.url('ann'));
      expect(answer).toMatchObject({ status: 403, body: 'tenant suspended\n' });
      expect(t.events.rejected).toEqual([
        expect.objectContaining({
          reason: 'refused',
          status: 403,
          userId: 'acme:ann',
          message: 'tenant suspended',
        }),
      ]);
      expect(new Refusal(403, 'x', { userId: 'acme:ann' }).userId).toBe('acme:ann');
      expect(new Refusal(403).userId).toBeUndefined();
      expect(t.errors).toEqual([]);
      // Nothing booked for the user it names.
      expect(t.supervisor.userStats('acme:ann')).toBeUndefined();
      expectNoLeaks(t.supervisor);
    },
  );

  it('without one, the event says userId: undefined, as before', async () => {
    const t = await startRulesServer({ authenticate: () => new Refusal(403, 'tenant suspended') });
    expect((await httpRefusal(t.url('ann'))).status).toBe(403);
    expect(t.events.rejected).toEqual([expect.objectContaining({ reason: 'refused', userId: undefined })]);
    expectNoLeaks(t.supervisor);
  });

  // A request-derived id (a token's subject) that breaks the rules threw in the constructor,
  // inside authenticate: a 500 the client retried for ever, instead of the app's 401.
  it.each([
    ['too long, returned', 'u'.repeat(129), false, /user id is longer than 128 bytes in UTF-8/],
    ['with a newline, thrown', 'eve\nadmin', true, /user id contains control characters/],
    ['empty, thrown', '', true, /user id is empty/],
    // Review r24: a subject from a token that failed verification may be no string at all.
    ['a number, returned', 42, false, /user id must be a string, got number/],
    ['an object, thrown', { id: 'ann' }, true, /user id must be a string, got object/],
  ])(
    'one that breaks the id rules (%s) is dropped and reported: the client gets the status the app chose',
    async (_name, subject, thrown, problem) => {
      const t = await startRulesServer({
        authenticate: () => {
          const refusal = new Refusal(401, 'bad token', { userId: subject as string });
          if (thrown) throw refusal;
          return refusal;
        },
      });
      const answer = await httpRefusal(t.url('ann'));
      expect(answer).toMatchObject({ status: 401, body: 'bad token\n' });
      expect(t.events.rejected).toEqual([
        expect.objectContaining({ reason: 'refused', status: 401, userId: undefined }),
      ]);
      expect(t.errors).toHaveLength(1);
      const [error] = t.errors.splice(0);
      expect(error).toBeInstanceOf(AppHookError);
      expect(error).toMatchObject({ code: 'WSSUP_APP_HOOK_FAILED', hook: 'authenticate' });
      expect(String((error as AppHookError).cause)).toMatch(problem);
      expect(String((error as AppHookError).cause)).toMatch(/left out of the rejected event/);
      expectNoLeaks(t.supervisor);
    },
  );

  it.each([
    ['an empty string', '', /user id is empty/],
    ['a number', 42, /user id must be a string, got number/],
  ])(
    'one changed after the refusal was made to %s is dropped and reported too, the refusal sent',
    async (_name, value, problem) => {
      const t = await startRulesServer({
        authenticate: () =>
          Object.assign(new Refusal(403, 'tenant suspended', { userId: 'acme:ann' }), { userId: value }),
      });
      expect((await httpRefusal(t.url('ann'))).status).toBe(403);
      expect(t.events.rejected).toEqual([
        expect.objectContaining({ reason: 'refused', status: 403, userId: undefined }),
      ]);
      expect(t.errors).toHaveLength(1);
      expect(String((t.errors.splice(0)[0] as AppHookError).cause)).toMatch(problem);
      expectNoLeaks(t.supervisor);
    },
  );

  it('is read once, as the other fields are: a getter that answers a good id, then a bad one, is sent as checked', async () => {
    const t = await startRulesServer({
      authenticate: () => {
        const refusal = new Refusal(403, 'tenant suspended');
        let reads = 0;
        Object.defineProperty(refusal, 'userId', { get: () => (++reads === 1 ? 'acme:ann' : 'eve\nadmin') });
        return refusal;
      },
    });
    expect((await httpRefusal(t.url('ann'))).status).toBe(403);
    expect(t.events.rejected).toEqual([expect.objectContaining({ reason: 'refused', userId: 'acme:ann' })]);
    expect(t.errors).toEqual([]);
    expectNoLeaks(t.supervisor);
  });
});

describe('a Refusal whose fields answer differently each time they are read', () => {
  it('is sent as it was checked: a status getter saying 401, then 418, never reaches the client as 418', async () => {
    const t = await startRulesServer({
      authenticate: () => {
        const refusal = new Refusal(401, 'who are you');
        let reads = 0;
        Object.defineProperty(refusal, 'status', { get: () => (++reads === 1 ? 401 : 418) });
        return refusal;
      },
    });
    const answer = await httpRefusal(t.url('anyone'));
    expect(answer).toMatchObject({ status: 401, body: 'who are you\n' });
    expect(t.events.rejected).toMatchObject([{ reason: 'refused', status: 401 }]);
    expect(t.errors).toEqual([]);
    expectNoLeaks(t.supervisor);
  });

  it("a message that reads as undefined (an app's getter) is sent as the status text, the constructor's default: not an empty body", async () => {
    const t = await startRulesServer({
      authenticate: () => {
        const refusal = new Refusal(403, 'account suspended');
        Object.defineProperty(refusal, 'message', { get: () => undefined });
        return refusal;
      },
    });
    const answer = await httpRefusal(t.url('anyone'));
    expect(answer).toMatchObject({ status: 403, body: 'Forbidden\n' });
    expect(t.events.rejected).toMatchObject([{ reason: 'refused', status: 403, message: 'Forbidden' }]);
    expect(t.errors).toEqual([]);
    expectNoLeaks(t.supervisor);
  });
});

describe('Retry-After on every 429 and 503 (item 3)', () => {
  it('user limit: 429 with the default Retry-After: 5', async () => {
    const t = await startRulesServer({ maxConnectionsPerUser: 1 });
    const held = await t.open('alice');
    const answer = await httpRefusal(t.url('alice'));
    expect([answer.status, answer.headers['retry-after']]).toEqual([429, '5']);
    held.ws.close();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });

  it('process limit and shutdown: 503 with the hints retryAfterMs sets per reason, rounded up', async () => {
    const t = await startRulesServer({
      maxConnections: 1,
      retryAfterMs: { 'process-limit': 1_500, 'shutting-down': 250 },
    });
    const held = await t.open('alice');
    const full = await httpRefusal(t.url('bob'));
    expect([full.status, full.headers['retry-after']]).toEqual([503, '2']);

    const stopping = t.supervisor.shutdown({ deadlineMs: 10 });
    const late = await httpRefusal(t.url('carol'));
    expect([late.status, late.headers['retry-after']]).toEqual([503, '1']);
    expect(t.events.rejected.map((event) => [event.reason, event.retryAfterMs])).toEqual([
      ['process-limit', 1_500],
      ['shutting-down', 250],
    ]);
    held.ws.close();
    await stopping;
    expectNoLeaks(t.supervisor);
  });

  it("retryAfterMs: { 'shutting-down': 0 } sets that one hint, to Retry-After: 0; the others keep their default", async () => {
    const t = await startRulesServer({ maxConnectionsPerUser: 1, retryAfterMs: { 'shutting-down': 0 } });
    const held = await t.open('alice');
    const full = await httpRefusal(t.url('alice'));
    expect([full.status, full.headers['retry-after']]).toEqual([429, '5']);
    const stopping = t.supervisor.shutdown({ deadlineMs: 10 });
    const late = await httpRefusal(t.url('bob'));
    expect([late.status, late.headers['retry-after']]).toEqual([503, '0']);
    held.ws.close();
    await stopping;
    expectNoLeaks(t.supervisor);
  });

  it('a handshake the app’s server did not finish within connectTimeoutMs: 503 with the `refused` hint', async () => {
    // An async verifyClient that never answers holds the connection in `connecting`.
    const webSocketServer = new WebSocketServer({
      noServer: true,
      maxPayload: 65_536,
      verifyClient: (_info, _callback) => {},
    });
    onTestFinished(() => void webSocketServer.close());
    const t = await startRulesServer({
      webSocketServer,
      connectTimeoutMs: 1_000,
      retryAfterMs: { refused: 2_500 },
    });
    const answer = httpRefusal(t.url('wes'));
    await vi.waitFor(() => expect(t.supervisor.stats().byState.connecting).toBe(1), ioWait);
    t.clock.increment(1_000);
    expect(await answer).toMatchObject({
      status: 503,
      headers: { 'retry-after': '3' },
      body: 'connection was not established\n',
    });
    expect(t.events.disposed).toMatchObject([{ userId: 'wes', reason: 'connect-timeout' }]);
    expectNoLeaks(t.supervisor);
  });

  it('one number sets every built-in hint; 401, 400 and 500 carry none', async () => {
    const t = await startRulesServer({
      maxConnectionsPerUser: 1,
      retryAfterMs: 10_000,
      authenticate: (request) => {
        const user = userFromQuery(request);
        if (user === 'boom') throw new Error('token store down');
        return user === 'nobody' ? null : user === 'empty' ? '' : user;
      },
    });
    const held = await t.open('alice');
    expect((await httpRefusal(t.url('alice'))).headers['retry-after']).toBe('10');
    for (const user of ['nobody', 'empty', 'boom']) {
      const answer = await httpRefusal(t.url(user));
      expect(answer.headers['retry-after'], user).toBeUndefined();
    }
    expect(t.events.rejected.map((event) => [event.status, event.retryAfterMs])).toEqual([
      [429, 10_000],
      [401, undefined],
      [400, undefined],
      [500, undefined],
    ]);
    held.ws.close();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });
});

describe('rejected events say who was refused (item 9)', () => {
  it('carries the remote address, the user agent and the correlation id when known', async () => {
    const t = await startRulesServer({
      maxConnectionsPerUser: 1,
      authenticate: (request) => ({ userId: userFromQuery(request) ?? '', correlationId: 'req-42' }),
    });
    const held = await t.open('alice');
    await httpRefusal(t.url('alice'), { headers: { 'user-agent': 'Mozilla/5.0 (test)' } });
    expect(await refusal(t.url(''))).toMatchObject({ status: 400 });
    expect(t.events.rejected).toEqual([
      {
        reason: 'user-limit',
        status: 429,
        userId: 'alice',
        message: 'user has reached the maximum number of connections (1)',
        via: 'http',
        retryAfterMs: 5_000,
        remoteAddress: '127.0.0.1',
        userAgent: 'Mozilla/5.0 (test)',
        correlationId: 'req-42',
        live: 1,
        limit: 1,
      },
      {
        reason: 'invalid-user-id',
        status: 400,
        userId: undefined,
        message: 'user id is empty',
        via: 'http',
        remoteAddress: '127.0.0.1',
        correlationId: 'req-42',
      },
    ]);
    held.ws.close();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });

  it("cuts an anonymous client's long user agent to its first 256 characters and '…' (README: a bounded line per refusal)", async () => {
    const t = await startRulesServer({ authenticate: () => undefined });
    const long = `Mozilla/5.0 ${'A'.repeat(8_000)}`;
    await httpRefusal(t.url('x'), { headers: { 'user-agent': long } });
    await httpRefusal(t.url('x'), { headers: { 'user-agent': 'B'.repeat(256) } });
    const [cut, whole] = t.events.rejected as { userAgent?: string }[];
    expect(cut?.userAgent).toBe(`${long.slice(0, 256)}…`);
    expect(whole?.userAgent).toBe('B'.repeat(256));
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });
});
