/**
 * serveForTest() where a test reaches outside itself (isolated: test/isolated-files.ts): the
 * module loaded while fake timers were on (a runner's setup file turns them on for every test),
 * a spied supervisor (a leak, a shutdown that fails late), and a server that cannot listen.
 */
import type { Server } from 'node:http';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SimulatedClock } from 'xstate';
import { serveForTest } from '../../src/testing/index.js';
import { createEcho } from './echo-app.js';

afterEach(() => {
  vi.useRealTimers();
  vi.doUnmock('node:http');
  vi.resetModules();
  vi.restoreAllMocks();
});

describe('serveForTest()', () => {
  it('closes on a clock when its module was loaded with fake timers on (a setup file turns them on)', async () => {
    vi.useFakeTimers();
    vi.resetModules();
    const loaded = await import('../../src/testing/serve-for-test.js');
    vi.useRealTimers();
    const clock = new SimulatedClock();
    const app = await loaded.serveForTest(createEcho({ clock, heartbeatIntervalMs: 3_600_000 }), { clock });
    const disposals: Array<number | undefined> = [];
    app.supervisor.on('disposed', ({ cleanupMs }) => disposals.push(cleanupMs));
    await app.open('/?user=alice');
    await app.close(); // its turns of I/O were the fake setImmediate's, which nothing ran: it hung
    expect(disposals).toEqual([0]);
  });

  it('rejects close() with WSSUP_TEST_LEAKED listing what leaksOf() finds', async () => {
    const supervisor = createEcho();
    const stats = supervisor.stats;
    // The supervisor's books, with one connection more than it holds: what a leak looks like.
    vi.spyOn(supervisor, 'stats').mockImplementation((options) => ({ ...stats(options), connections: 1 }));
    const app = await serveForTest(supervisor);
    await app.open('/?user=alice');
    await expect(app.close()).rejects.toMatchObject({
      code: 'WSSUP_TEST_LEAKED',
      leaks: ['stats().connections is 1, not 0'],
      socketErrors: [],
      message: 'serveForTest close(): after the shutdown\nleaked: stats().connections is 1, not 0',
    });
  });

  it("rejects close() with advanceTimers' error, and a shutdown() that then fails is no unhandled rejection", async () => {
    const supervisor = createEcho();
    const shutdown = supervisor.shutdown;
    let ended: Promise<void> | undefined;
    // A shutdown that fails once it has ended (a cluster store whose stop fails does that). Not
    // vi.spyOn(): the spy's record of settled results would handle the rejection itself.
    supervisor.shutdown = (options) => {
      ended = shutdown(options);
      return ended.then(() => {
        throw new Error('the store did not stop');
      });
    };
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const app = await serveForTest(supervisor, {
        advanceTimers: () => {
          throw new Error('advanceTimers failed');
        },
      });
      await app.open('/?user=alice');
      await expect(app.close()).rejects.toThrow('advanceTimers failed');
      await ended;
      await new Promise((turn) => setImmediate(turn)); // Node reports an unhandled rejection after the microtasks
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});

describe('serveForTest() on a server that cannot listen', () => {
  it('rejects with the listen error, the supervisor detached and shut down', async () => {
    const servers: Server[] = [];
    vi.doMock('node:http', async (importOriginal) => {
      const http = await importOriginal<typeof import('node:http')>();
      const createServer = (...args: Parameters<typeof http.createServer>) => {
        const server = http.createServer(...args);
        servers.push(server);
        // What a port that cannot be bound does: no 'listening', an 'error'.
        server.listen = function listen(this: Server) {
          const error = Object.assign(new Error('listen EADDRNOTAVAIL 127.0.0.1'), { code: 'EADDRNOTAVAIL' });
          process.nextTick(() => this.emit('error', error));
          return this;
        } as Server['listen'];
        return server;
      };
      return { ...http, createServer, default: { ...http, createServer } };
    });
    vi.resetModules();
    const loaded = await import('../../src/testing/serve-for-test.js');
    const supervisor = createEcho();
    await expect(loaded.serveForTest(supervisor)).rejects.toMatchObject({ code: 'EADDRNOTAVAIL' });
    expect(supervisor.stats().admission).toEqual({ admitting: false, reason: 'shutting-down' });
    await supervisor.shutdown(); // it was called: this is its promise, resolved
    expect(servers).toHaveLength(1);
    expect(servers[0]?.listenerCount('upgrade')).toBe(0);
    // Shut down, not served: a second serveForTest() says so, not "already served".
    await expect(loaded.serveForTest(supervisor)).rejects.toMatchObject({ code: 'WSSUP_SHUTTING_DOWN' });
  });
});
