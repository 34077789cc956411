/**
 * Bad input gets a clear, typed answer and allocates nothing: refused
 * upgrades, oversized messages, app code that throws, bad arguments.
 */
import { once } from 'node:events';
import { connect as tcpConnect } from 'node:net';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import WebSocket from 'ws';
import { AppHookError, type SupervisorOptions, type SupervisorStats } from '../../src/index.js';
import {
  allDisposed,
  closed,
  connect,
  connectRefused,
  expectNoLeaks,
  startServer,
} from '../helpers/server.js';

const upgradeRequest = (user: string, key = true) =>
  `GET /?user=${user} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
  (key
    ? `Sec-WebSocket-Key: ${Buffer.alloc(16, 1).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n`
    : '') +
  '\r\n';

const nothingAllocated = (stats: SupervisorStats) => {
  expect(stats.resources).toEqual({
    connectionActors: 0,
    userSupervisors: 0,
    pendingTimers: 0,
    socketListeners: 0,
  });
  expect(stats.counters.admitted).toBe(0);
};

describe('refused upgrades allocate nothing', () => {
  it.each([
    ['authenticate returns null', 401, 'unauthenticated', () => null],
    ['an empty user id', 400, 'invalid-user-id', () => ''],
    ['a user id of 129 characters', 400, 'invalid-user-id', () => 'u'.repeat(129)],
    ['a newline in the user id', 400, 'invalid-user-id', () => 'eve\nadmin'],
    ['a NUL in the user id', 400, 'invalid-user-id', () => 'eve\u0000'],
    ['a user id that is not a string', 400, 'invalid-user-id', () => ({ userId: 42 as unknown as string })],
    [
      'authenticate throws',
      500,
      'auth-failed',
      () => {
        throw new Error('token store down');
      },
    ],
    ['authenticate rejects', 500, 'auth-failed', () => Promise.reject(new Error('token store down'))],
  ] as [string, number, string, SupervisorOptions['authenticate']][])(
    '%s: HTTP %i, reason %s',
    async (_name, status, reason, authenticate) => {
      const t = await startServer({ authenticate });
      const rejected: string[] = [];
      t.supervisor.on('rejected', (event) => rejected.push(`${event.status} ${event.reason}`));
      expect(await connectRefused(t.url('whoever'))).toBe(status);
      expect(rejected).toEqual([`${status} ${reason}`]);
      nothingAllocated(t.supervisor.stats());
      if (reason === 'auth-failed') {
        expect(t.errors).toHaveLength(1);
        expect(t.errors[0]).toBeInstanceOf(AppHookError);
        expect(t.errors[0]).toMatchObject({ code: 'WSSUP_APP_HOOK_FAILED', hook: 'authenticate' });
      } else {
        expect(t.errors).toEqual([]);
      }
    },
  );

  it('accepts a user id of exactly 128 characters and non-ASCII ids', async () => {
    const t = await startServer();
    const long = await connect(t.url('u'.repeat(128)));
    const unicode = await connect(t.url('Zoë-日本'));
    expect(t.supervisor.stats().users).toBe(2);
    long.close();
    unicode.close();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });

  it('a client that leaves during a slow authenticate leaves nothing behind', async () => {
    // Node does not read an upgrade socket before the handshake, so the server
    // may or may not have seen the client go when authentication answers:
    // either way, nothing may be left once the socket is gone.
    let answer: ((user: string) => void) | undefined;
    const t = await startServer({
      authenticate: () =>
        new Promise<string>((resolve) => {
          answer = resolve;
        }),
    });
    const outcomes: string[] = [];
    t.supervisor.on('rejected', (event) => outcomes.push(event.reason));
    t.supervisor.on('disposed', (event) => outcomes.push(event.reason));
    const socket = tcpConnect(t.port, '127.0.0.1');
    onTestFinished(() => {
      socket.destroy();
    });
    socket.write(upgradeRequest('gone'));
    await vi.waitFor(() => expect(answer).toBeTypeOf('function'));
    socket.destroy();
    await once(socket, 'close');
    answer?.('gone');
    await vi.waitFor(() => expect(outcomes).toHaveLength(1));
    expect(['socket-closed', 'closed', 'error']).toContain(outcomes[0]);
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });

  it('a malformed upgrade request (no Sec-WebSocket-Key) releases its reserved slot', async () => {
    const t = await startServer();
    const socket = tcpConnect(t.port, '127.0.0.1');
    onTestFinished(() => {
      socket.destroy();
    });
    await once(socket, 'connect');
    socket.write(upgradeRequest('mal', false));
    const [response] = (await once(socket, 'data')) as [Buffer];
    expect(response.toString()).toMatch(/^HTTP\/1\.1 400/);
    await allDisposed(t.supervisor);
    expect(t.disposed).toMatchObject([{ userId: 'mal', reason: 'closed' }]);
    expectNoLeaks(t.supervisor);
  });
});

describe('oversized messages', () => {
  it('are refused by ws with 1009 and the connection is disposed', async () => {
    const t = await startServer({ maxPayloadBytes: 1024 });
    const ws = await connect(t.url('big'));
    const closing = closed(ws);
    ws.send('x'.repeat(1025));
    expect((await closing).code).toBe(1009);
    await allDisposed(t.supervisor);
    expect(t.disposed).toMatchObject([{ reason: 'error' }]);
    expectNoLeaks(t.supervisor);
  });
});

describe('app hooks that fail', () => {
  const boom = new Error('app bug');
  it.each([
    ['onOpen throws', { onOpen: () => Promise.reject(boom) }, 'onOpen', false],
    [
      'onOpen rejects',
      {
        onOpen: () => {
          throw boom;
        },
      },
      'onOpen',
      false,
    ],
    [
      'onMessage throws',
      {
        onMessage: () => {
          throw boom;
        },
      },
      'onMessage',
      true,
    ],
    ['onMessage rejects', { onMessage: async () => Promise.reject(boom) }, 'onMessage', true],
  ] as [string, Partial<SupervisorOptions>, string, boolean][])(
    '%s: reported, closed with 1011, and disposed',
    async (_name, hooks, hook, needsMessage) => {
      const t = await startServer(hooks);
      const ws = new WebSocket(t.url('oops'));
      onTestFinished(() => ws.terminate());
      const closing = closed(ws);
      if (needsMessage) {
        await once(ws, 'open');
        ws.send('hello');
      }
      expect(await closing).toEqual({ code: 1011, reason: 'internal error' });
      await allDisposed(t.supervisor);
      expect(t.disposed).toMatchObject([{ reason: 'app-error', closeCode: 1011 }]);
      expect(t.errors).toHaveLength(1);
      expect(t.errors[0]).toMatchObject({ code: 'WSSUP_APP_HOOK_FAILED', hook, cause: boom });
      expect((t.errors[0] as AppHookError).connectionId).toBe(t.disposed[0]?.connectionId);
      expectNoLeaks(t.supervisor);
    },
  );

  it('onClose throwing is reported; the slot is already free', async () => {
    const t = await startServer({
      onClose: () => {
        throw boom;
      },
    });
    const ws = await connect(t.url('bye'));
    ws.close();
    await allDisposed(t.supervisor);
    expect(t.errors).toMatchObject([{ code: 'WSSUP_APP_HOOK_FAILED', hook: 'onClose' }]);
    expectNoLeaks(t.supervisor);
  });

  it('an event listener that throws is reported and changes nothing', async () => {
    const t = await startServer();
    t.supervisor.on('admitted', () => {
      throw boom;
    });
    const ws = await connect(t.url('listener'));
    ws.send('still works');
    const [echo] = (await once(ws, 'message')) as [Buffer];
    expect(echo.toString()).toBe('still works');
    expect(t.errors).toMatchObject([{ code: 'WSSUP_APP_HOOK_FAILED', hook: "on('admitted')" }]);
    ws.close();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });
});

describe('an onError that throws', () => {
  it('is caught and logged; the failing connection still closes and is disposed', async () => {
    const logged = vi.spyOn(console, 'error').mockImplementation(() => {});
    onTestFinished(() => logged.mockRestore());
    const t = await startServer({
      onMessage: () => {
        throw new Error('app bug');
      },
      onError: () => {
        throw new Error('logger down');
      },
    });
    const ws = await connect(t.url('log'));
    const closing = closed(ws);
    ws.send('x');
    expect((await closing).code).toBe(1011);
    await allDisposed(t.supervisor);
    expect(logged).toHaveBeenCalledWith(
      'ws-supervisor: onError threw while reporting',
      expect.objectContaining({ code: 'WSSUP_APP_HOOK_FAILED' }),
      expect.objectContaining({ message: 'logger down' }),
    );
    expectNoLeaks(t.supervisor);
  });
});

describe('bad arguments to the connection handle', () => {
  it('close() with a reserved code or a long reason throws WSSUP_INVALID_ARGUMENT; send() after close is false', async () => {
    const outcomes: unknown[] = [];
    const t = await startServer({
      onMessage: (connection) => {
        for (const [code, reason] of [
          [1005, ''],
          [2000, ''],
          [1000, 'x'.repeat(124)],
        ] as const) {
          try {
            connection.close(code, reason);
            outcomes.push('no error');
          } catch (error) {
            outcomes.push((error as { code?: string }).code);
          }
        }
        connection.close(4000, 'done');
        outcomes.push(connection.send('late'));
      },
    });
    const ws = await connect(t.url('args'));
    const closing = closed(ws);
    ws.send('go');
    expect(await closing).toEqual({ code: 4000, reason: 'done' });
    expect(outcomes).toEqual([
      'WSSUP_INVALID_ARGUMENT',
      'WSSUP_INVALID_ARGUMENT',
      'WSSUP_INVALID_ARGUMENT',
      false,
    ]);
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });
});
