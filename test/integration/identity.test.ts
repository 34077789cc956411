/** One connection id, minted once at admission, is the key everywhere; the inspect hook sees the actors. */
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { AnyActorRef, InspectionEvent } from 'xstate';
import {
  allDisposed,
  connect,
  connectRefused,
  expectNoLeaks,
  nextMessage,
  startServer,
} from '../helpers/server.js';

const uuidV7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('identity', () => {
  it("the same UUID v7 is the handle id, the connection actor's id in context, and the id in every event", async () => {
    const inspected: InspectionEvent[] = [];
    const seen: Record<string, string[]> = { open: [], admitted: [], disposed: [], close: [] };
    const t = await startServer({
      inspect: (event) => inspected.push(event),
      onOpen: (connection) => void seen.open?.push(connection.id),
      onClose: (connection) => void seen.close?.push(connection.id),
    });
    t.supervisor.on('admitted', (event) => seen.admitted?.push(event.connectionId));
    t.supervisor.on('disposed', (event) => seen.disposed?.push(event.connectionId));
    const ws = await connect(t.url('ivy'));
    ws.send('x');
    await nextMessage(ws);
    ws.close();
    await allDisposed(t.supervisor);

    const [id] = seen.admitted ?? [];
    expect(id).toMatch(uuidV7);
    expect(seen).toEqual({ open: [id], admitted: [id], disposed: [id], close: [id] });
    // The connection actor carries the id in its context; its actor id is a
    // reusable slot name, so that XState's per-event-type caches stay bounded.
    const connectionActors = inspected
      .filter((e) => e.type === '@xstate.actor')
      .map((e) => e.actorRef as AnyActorRef)
      .filter(
        (actor) => (actor.getSnapshot().context as { connectionId?: string }).connectionId !== undefined,
      );
    expect(connectionActors.map((actor) => actor.getSnapshot().context.connectionId)).toEqual([id]);
    expect(connectionActors.map((actor) => actor.id)).toEqual(['0']);
    expectNoLeaks(t.supervisor);
  });

  it('ids are time-ordered across connections', async () => {
    const t = await startServer();
    const ids: string[] = [];
    t.supervisor.on('admitted', (event) => ids.push(event.connectionId));
    for (let i = 0; i < 5; i++) (await connect(t.url('jay'))).close();
    await allDisposed(t.supervisor);
    expect(ids).toHaveLength(5);
    expect([...ids].sort()).toEqual(ids);
    expectNoLeaks(t.supervisor);
  });
});

describe('a connection handle logged by the app', () => {
  it('shows the connection (id, user, app data), not the supervisor it belongs to', async () => {
    let logged: { inspected: string; json: string } | undefined;
    const t = await startServer({
      authenticate: () => ({ userId: 'ivy', correlationId: 'req-1', data: { plan: 'pro' } }),
      // What an app writes first in onOpen: console.log(connection), or a logger's { connection }.
      onOpen: (connection) => {
        logged = { inspected: inspect(connection), json: JSON.stringify({ connection }) };
      },
    });
    const ws = await connect(t.url('ivy'));
    ws.close();
    await allDisposed(t.supervisor);

    const { inspected, json } = logged ?? { inspected: '', json: '' };
    for (const shown of [inspected, json]) {
      expect(shown).toMatch(/userId.*ivy/);
      expect(shown).toMatch(/req-1/);
      expect(shown).toMatch(/plan.*pro/);
      // The runtime shared by every connection (its ws server, books, hooks) is not the app's to read.
      expect(shown).not.toMatch(/WebSocketServer|maxBufferedChunks|retryHints|usersByBand|env/);
    }
    expect(JSON.parse(json).connection).toMatchObject({
      id: expect.stringMatching(uuidV7),
      userId: 'ivy',
      correlationId: 'req-1',
      data: { plan: 'pro' },
    });
    expectNoLeaks(t.supervisor);
  });
});

describe('a correlation id that is not a string', () => {
  it.each([
    ['null (URLSearchParams.get of a missing parameter)', null, undefined],
    ['a number', 42, /^authenticate returned a correlationId that is not a string: 42/],
    ['an object', { id: 'req-1' }, /^authenticate returned a correlationId that is not a string: an object/],
  ])(
    '%s: the connection is admitted without one, and the app is told unless it is null',
    async (_name, given, told) => {
      const admitted: unknown[] = [];
      const t = await startServer({
        authenticate: () => ({ userId: 'ivy', correlationId: given as unknown as string }),
      });
      t.supervisor.on('admitted', (event) => admitted.push(event.correlationId));
      const ws = await connect(t.url('ivy'));
      ws.close();
      await allDisposed(t.supervisor);
      // Only a string labels the connection's events and logs.
      expect(admitted).toEqual([undefined]);
      const hookErrors = t.errors.filter((error) => error.code === 'WSSUP_APP_HOOK_FAILED');
      if (told === undefined) expect(hookErrors).toEqual([]);
      else
        expect(hookErrors.map((error) => String((error.cause as Error)?.message))).toEqual([
          expect.stringMatching(told),
        ]);
      expectNoLeaks(t.supervisor);
    },
  );

  // The report said "the connection was admitted without one" whatever became of the
  // connection: refused for its user id or at the process limit, the app's log claimed
  // an admission that never happened.
  it.each([
    ['a user id that is not a string', { maxConnections: undefined }, 7, 500],
    ['the process limit', { maxConnections: 1 }, 'ivy', 503],
  ])(
    'refused for %s: the report does not claim the connection was admitted',
    async (_name, limits, userId, status) => {
      const t = await startServer({
        ...limits,
        authenticate: (request) =>
          request.url?.includes('bystander')
            ? 'bystander'
            : { userId: userId as unknown as string, correlationId: 42 as unknown as string },
      });
      const bystander = await connect(t.url('bystander'));
      expect(await connectRefused(t.url('ivy'))).toBe(status);
      const told = t.errors
        .map((error) => String((error.cause as Error | undefined)?.message))
        .filter((message) => message.includes('correlationId'));
      expect(told).toEqual([
        expect.stringMatching(/^authenticate returned a correlationId that is not a string: 42/),
      ]);
      expect(told[0]).not.toMatch(/admitted/);
      bystander.close();
      await allDisposed(t.supervisor);
      expectNoLeaks(t.supervisor);
    },
  );
});
