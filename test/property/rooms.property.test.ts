/**
 * Rooms against a model, on real sockets: fast-check draws interleavings of
 * join, leave, sendToRoom (with and without `except`) and connections ending
 * (client close, dropped TCP, app close), with a cap of 2 rooms per
 * connection. After every step, each room's members (in join order), what
 * each call returned, the room counts in stats() and audit() equal the
 * model's. At the end, once every socket is gone: no room, no membership,
 * nothing left. A failure is shrunk to a minimal sequence and printed.
 */
import fc from 'fast-check';
import { expect, it, vi } from 'vitest';
import { fuzzParameters, fuzzTimeout } from '../helpers/fuzz.js';
import { type Client, nextEvent, startRulesServer } from '../helpers/rules.js';
import { allDisposed, expectNoLeaks } from '../helpers/server.js';

// The property's timeout, scaled with WSSUP_FUZZ_RUNS (test/helpers/fuzz.ts).
vi.setConfig({ testTimeout: fuzzTimeout(120_000) });

const CLIENTS = 4;
const ROOMS = ['a', 'b', 'c'] as const;
const CAP = 2;

type Op =
  | { op: 'join'; client: number; room: string }
  | { op: 'leave'; client: number; room: string }
  | { op: 'send'; room: string; except: number | undefined }
  | { op: 'end'; client: number; how: 'close' | 'terminate' | 'app-close' };

const client = fc.integer({ min: 0, max: CLIENTS - 1 });
const room = fc.constantFrom(...ROOMS);
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('join' as const), client, room }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('leave' as const), client, room }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('send' as const),
      room,
      except: fc.option(client, { nil: undefined }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('end' as const),
      client,
      how: fc.constantFrom('close' as const, 'terminate' as const, 'app-close' as const),
    }),
  },
);

it('join, leave, sendToRoom and connections ending agree with a model of the rooms', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(op, { maxLength: 30 }), async (ops) => {
      const t = await startRulesServer({ maxRoomsPerConnection: CAP });
      const clients: Client[] = [];
      for (let i = 0; i < CLIENTS; i++) clients.push(await t.open(`u${i}`));
      // The model: each client's rooms (join order; once ended, those it ended in), and each room's members (join order).
      const open = new Set(clients.map((_, i) => i));
      const roomsOf = clients.map(() => new Set<string>());
      const members = new Map<string, Set<number>>(ROOMS.map((r) => [r, new Set()]));

      const clientAt = (i: number) => clients[i] as Client;
      const roomsAt = (i: number) => roomsOf[i] as Set<string>;
      const membersOf = (r: string) => members.get(r) as Set<number>;
      const check = (after: string) => {
        for (const r of ROOMS) {
          const expected = [...(members.get(r) ?? [])].map((i) => clients[i]?.id);
          expect(
            t.supervisor.roomMembers(r).map((handle) => handle.id),
            `${after}: members of ${r}`,
          ).toEqual(expected);
        }
        for (const [i, c] of clients.entries()) {
          expect([...c.handle.rooms], `${after}: rooms of ${i}`).toEqual([...roomsAt(i)]);
        }
        const sizes = [...members.values()].map((set) => set.size);
        expect(t.supervisor.stats().resources, after).toMatchObject({
          rooms: sizes.filter((size) => size > 0).length,
          roomMemberships: sizes.reduce((sum, size) => sum + size, 0),
        });
        expect(t.supervisor.audit().mismatches, after).toEqual([]);
      };

      for (const [step, o] of ops.entries()) {
        const what = `step ${step} ${JSON.stringify(o)}`;
        if (o.op === 'join') {
          const mine = roomsAt(o.client);
          const expected = open.has(o.client) && (mine.has(o.room) || mine.size < CAP);
          expect(clientAt(o.client).handle.join(o.room), what).toBe(expected);
          if (expected) {
            mine.add(o.room);
            membersOf(o.room).add(o.client);
          }
        } else if (o.op === 'leave') {
          // A disposed client's rooms are the ones it ended in: leave() changes them no more.
          const was = open.has(o.client) && roomsAt(o.client).delete(o.room);
          membersOf(o.room).delete(o.client);
          expect(clientAt(o.client).handle.leave(o.room), what).toBe(was);
        } else if (o.op === 'send') {
          const except = o.except === undefined ? undefined : clientAt(o.except).id;
          const expected = [...membersOf(o.room)].filter((i) => i !== o.except).length;
          const options = except === undefined ? undefined : { except };
          expect(t.supervisor.sendToRoom(o.room, `to ${o.room}`, options), what).toBe(expected);
        } else if (open.has(o.client)) {
          const target = clientAt(o.client);
          const disposed = nextEvent(t.supervisor, 'disposed', (event) => event.connectionId === target.id);
          if (o.how === 'close') target.ws.close();
          else if (o.how === 'terminate') target.ws.terminate();
          else target.handle.close(4000, 'bye');
          await disposed;
          open.delete(o.client);
          // Its memberships go; its `rooms` keeps reading the rooms it ended in (for onClose).
          for (const r of roomsAt(o.client)) membersOf(r).delete(o.client);
        }
        check(what);
      }

      for (const c of clients) c.ws.close();
      await allDisposed(t.supervisor);
      expect(t.supervisor.stats().resources).toMatchObject({ rooms: 0, roomMemberships: 0 });
      expectNoLeaks(t.supervisor);
    }),
    fuzzParameters(import.meta.url, { numRuns: 25 }),
  );
});
