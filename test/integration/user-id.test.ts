/**
 * User ids through a real upgrade (issue 13, item 16). The reference server
 * authenticates with `?user=<id>`, decoded by URLSearchParams: bytes that are
 * not UTF-8 decode to U+FFFD, so `%FF` and `%FE` would both become the same
 * user. Such an id is refused with 400, never admitted.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { type ReferenceServer, startReferenceServer } from '../../examples/reference-server/server.js';
import type { RejectedEvent } from '../../src/index.js';
import { rawConnect, readResponseHead, upgradeRequest } from '../helpers/cleanup.js';
import { connect, expectNoLeaks, nextMessage } from '../helpers/server.js';

async function startReference(): Promise<ReferenceServer> {
  const server = await startReferenceServer(
    { host: '127.0.0.1', port: 0, limits: { preset: 'test' } },
    () => {},
  );
  onTestFinished(() => server.close());
  return server;
}

/** A well-formed upgrade request whose query is sent as given, percent escapes and all. */
const requestWithQuery = (query: string) => upgradeRequest('x').replace('/?user=x ', `/?${query} `);

async function statusOf(port: number, query: string): Promise<string> {
  const socket = await rawConnect(port);
  socket.write(requestWithQuery(query));
  return (await readResponseHead(socket)).split('\r\n', 1)[0] ?? '';
}

describe('user ids from the query of a real upgrade request (the reference server)', () => {
  it.each([
    ['a byte that is not UTF-8 (%FF)', 'user=alice%FF', /U\+FFFD/],
    ['another one (%FE): not the same user as %FF, and not admitted either', 'user=alice%FE', /U\+FFFD/],
    ['a truncated UTF-8 sequence (%C3)', 'user=alice%C3', /U\+FFFD/],
    ['U+FFFD itself (%EF%BF%BD)', 'user=alice%EF%BF%BD', /U\+FFFD/],
    ['a right-to-left override (%E2%80%AE)', 'user=%E2%80%AEecila', /bidirectional/],
    ['a line separator (%E2%80%A8)', 'user=alice%E2%80%A8admin', /separator/],
    // Looks like "alice" everywhere it is shown, yet would be another user with another limit.
    ['a BOM before the id (%EF%BB%BF)', 'user=%EF%BB%BFalice', /invisible character/],
    ['a zero-width space (%E2%80%8B)', 'user=ali%E2%80%8Bce', /invisible character/],
    ['65 two-byte characters (130 bytes)', `user=${'%C3%A9'.repeat(65)}`, /longer than 128 bytes/],
  ])('%s: refused with HTTP 400, never admitted', async (_name, query, message) => {
    const server = await startReference();
    const rejected: RejectedEvent[] = [];
    server.supervisor.on('rejected', (event) => rejected.push(event));

    expect(await statusOf(server.port, query)).toBe('HTTP/1.1 400 Bad Request');

    expect(rejected).toEqual([
      {
        reason: 'invalid-user-id',
        status: 400,
        userId: undefined,
        message: expect.stringMatching(message),
        via: 'http',
        remoteAddress: '127.0.0.1',
      },
    ]);
    expect(server.supervisor.stats().counters).toEqual({ admitted: 0, rejected: 1, evicted: 0, disposed: 0 });
    expectNoLeaks(server.supervisor);
  });

  it('a well-formed non-ASCII id of 128 bytes is admitted under exactly that id', async () => {
    const server = await startReference();
    const ws = await connect(`${server.url}/?user=${'%C3%A9'.repeat(64)}`);
    ws.send('hi');
    expect(await nextMessage(ws)).toBe('hi');
    expect(server.supervisor.userStats('é'.repeat(64))).toMatchObject({ live: 1 });
  });
});

describe("user ids that name an Object.prototype member ('__proto__', 'constructor')", () => {
  it('are listed under their own id by stats({ perUser: true }), not lost or merged', async () => {
    const server = await startReference();
    const proto = await connect(`${server.url}/?user=__proto__`);
    const ctor = await connect(`${server.url}/?user=constructor`);
    onTestFinished(() => {
      proto.terminate();
      ctor.terminate();
    });
    const { perUser } = server.supervisor.stats({ perUser: true });
    // The debug page's JSON: a user whose id is '__proto__' became the object's prototype and vanished.
    expect(Object.keys(perUser ?? {}).sort()).toEqual(['__proto__', 'constructor']);
    expect(JSON.parse(JSON.stringify(perUser))).toMatchObject({
      ['__proto__']: { userId: '__proto__', live: 1 },
      constructor: { userId: 'constructor', live: 1 },
    });
  });
});
