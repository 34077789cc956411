/**
 * A bad argument's message names the value as a user can tell it apart: a string in
 * quotes. `shutdown({ deadlineMs: '1000' })` once said "got 1000", and `attach(server,
 * { path: 'ws' })` "got ws": the value looked right, and the message gave no clue.
 */
import { createServer } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { createDashboard } from '../../src/dashboard/index.js';
import { createSupervisor, Refusal, type Supervisor, SupervisorError } from '../../src/index.js';

const supervisors: Supervisor[] = [];
function supervisor(): Supervisor {
  const made = createSupervisor({ preset: 'test', authenticate: () => 'user' });
  supervisors.push(made);
  return made;
}
afterEach(async () => {
  await Promise.all(supervisors.splice(0).map((made) => made.shutdown()));
});

/** What `call` threw: a SupervisorError with WSSUP_INVALID_ARGUMENT. */
function messageOf(call: () => unknown): string {
  try {
    call();
  } catch (error) {
    expect(error).toBeInstanceOf(SupervisorError);
    expect((error as SupervisorError).code).toBe('WSSUP_INVALID_ARGUMENT');
    return (error as Error).message;
  }
  throw new Error('expected a WSSUP_INVALID_ARGUMENT');
}

describe('a bad argument that is a string is quoted in the message', () => {
  it.each<[string, () => unknown, string]>([
    ['disconnectUser close code', () => supervisor().disconnectUser('user', '4000' as never), 'got "4000"'],
    ['shutdown deadlineMs', () => supervisor().shutdown({ deadlineMs: '1000' as never }), 'got "1000"'],
    ['shutdown options', () => supervisor().shutdown('now' as never), 'got "now"'],
    [
      'shutdown pace.windowMs',
      () => supervisor().shutdown({ deadlineMs: 100, pace: { windowMs: '10' as never } }),
      'got "10"',
    ],
    ['shutdown pace.batches', () => supervisor().shutdown({ pace: { batches: '2' as never } }), 'got "2"'],
    ['stats options', () => supervisor().stats('perUser' as never), 'got "perUser"'],
    ['attach path', () => supervisor().attach(createServer(), { path: 'ws' }), 'got "ws"'],
    ['Refusal status', () => new Refusal('403' as never), 'got "403"'],
    ['Refusal retryAfterMs', () => new Refusal(429, 'slow down', { retryAfterMs: '5' as never }), 'got "5"'],
    [
      'createDashboard maxUsers',
      () => createDashboard(supervisor(), { authorize: () => true, maxUsers: '10' as never }),
      'got "10"',
    ],
  ])('%s', async (_, call, says) => {
    // shutdown() rejects rather than throws (a signal handler's .catch() must see it): either way, the message.
    expect(await messageOfEither(call)).toContain(says);
  });

  it('and an object is "an object", not [object Object]', () => {
    expect(messageOf(() => supervisor().disconnectUser('user', {} as never))).toContain('got an object');
  });

  it("disconnectUser's options given in place of the close code say where they go", () => {
    // The slip of a caller who read `disconnectUser(userId, { cluster: true })` into the README.
    expect(messageOf(() => supervisor().disconnectUser('user', { cluster: true } as never))).toMatch(
      /got an object: the options are the 4th argument, disconnectUser\(userId, code, reason, \{ cluster: true \}\)/,
    );
    // An array is a code in the wrong shape, not options: no hint that would send the caller astray.
    expect(messageOf(() => supervisor().disconnectUser('user', [4000] as never))).not.toContain(
      '4th argument',
    );
  });
});

describe('the cluster forms of stats() and userStats() reject a bad option: they return a promise', () => {
  it.each<[string, (made: Supervisor) => unknown, RegExp]>([
    [
      'stats, an unknown key',
      (made) => made.stats({ cluster: true, bogus: 1 } as never),
      /unknown key bogus/,
    ],
    [
      'stats, perUser not a boolean',
      (made) => made.stats({ cluster: true, perUser: 'y' as never }),
      /perUser/,
    ],
    [
      'userStats, an unknown key',
      (made) => made.userStats('a', { cluster: true, x: 1 } as never),
      /unknown key x/,
    ],
  ])('%s', async (_, call, says) => {
    let result: unknown;
    expect(() => {
      result = call(supervisor());
    }).not.toThrow();
    expect(result).toBeInstanceOf(Promise);
    await expect(result).rejects.toMatchObject({
      code: 'WSSUP_INVALID_ARGUMENT',
      message: expect.stringMatching(says),
    });
  });

  it('while the plain forms, which return no promise, still throw', () => {
    expect(messageOf(() => supervisor().stats({ perUser: 'y' as never }))).toMatch(/perUser/);
    expect(messageOf(() => supervisor().userStats('a', { x: 1 } as never))).toMatch(/unknown key x/);
  });

  // Review r20: `cluster` was read three times (the check, the form, the call): a getter that
  // answered true to the check and false afterwards got the plain form, checked as the other.
  it.each<[string, (made: Supervisor, options: object) => unknown]>([
    ['stats', (made, options) => made.stats(options as never)],
    ['userStats', (made, options) => made.userStats('a', options as never)],
  ])(
    '%s reads `cluster` once: a getter that answers true, then false, gets the cluster form',
    async (_, call) => {
      let reads = 0;
      const options = {
        get cluster() {
          reads += 1;
          return reads === 1;
        },
      };
      let result: unknown;
      expect(() => {
        result = call(supervisor(), options);
      }).not.toThrow();
      expect(reads).toBe(1);
      expect(result).toBeInstanceOf(Promise);
      // This supervisor has no `cluster` option: the cluster form rejects, as for a plain `cluster: true`.
      await expect(result).rejects.toMatchObject({
        code: 'WSSUP_INVALID_ARGUMENT',
        message: expect.stringMatching(/cluster/),
      });
    },
  );

  it('stats() reads `perUser` once: a getter that answers true, then false, gets the users it was checked for', () => {
    let reads = 0;
    const options = {
      get perUser() {
        reads += 1;
        return reads === 1;
      },
    };
    const stats = supervisor().stats(options);
    expect(reads).toBe(1);
    expect(stats.perUser).toEqual({});
  });
});

/** What `call` threw or rejected with: a SupervisorError with WSSUP_INVALID_ARGUMENT. */
async function messageOfEither(call: () => unknown): Promise<string> {
  let failure: unknown;
  try {
    await call();
  } catch (error) {
    failure = error;
  }
  expect(failure).toBeInstanceOf(SupervisorError);
  expect((failure as SupervisorError).code).toBe('WSSUP_INVALID_ARGUMENT');
  return (failure as Error).message;
}

describe('a bad user id: the message names the method that got it, and the value', () => {
  // Each method that takes a user id, sync and (where it has one) with { cluster: true },
  // which rejects on the id before it looks for the cluster option.
  const methods: [string, (s: Supervisor, id: string) => unknown][] = [
    ['connectionsOf', (s, id) => s.connectionsOf(id)],
    ['sendToUser', (s, id) => s.sendToUser(id, 'hi')],
    ['sendToUser', (s, id) => s.sendToUser(id, 'hi', { cluster: true })],
    ['disconnectUser', (s, id) => s.disconnectUser(id)],
    ['disconnectUser', (s, id) => s.disconnectUser(id, 4000, 'bye', { cluster: true })],
    ['userStats', (s, id) => s.userStats(id)],
    ['userStats', (s, id) => s.userStats(id, { cluster: true })],
  ];
  // The id as the message shows it: quoted, with what would corrupt a log line escaped.
  const ids: [string, unknown, string][] = [
    ['empty', '', 'user id is empty, got ""'],
    ['with a control character', 'ann\u0007', 'control characters, got "ann\\u0007"'],
    ['with a bidi control', 'ann\u202Egro', 'bidirectional control characters, got "ann\\u202egro"'],
    // Shown escaped: quoted raw, the refused id would read as the accepted "ann".
    [
      'with a BOM',
      '\uFEFFann',
      'invisible character (Default_Ignorable_Code_Point, such as U+FEFF or U+200B), got "\\ufeffann"',
    ],
    ['with a tag character', 'ann\u{E0061}', 'got "ann\\udb40\\udc61"'],
    ['too long (cut in the message)', 'u'.repeat(200), `got "${'u'.repeat(64)}…" (200 bytes)`],
    ['a number', 42, 'user id must be a string, got 42'],
    ['undefined', undefined, 'user id must be a string, got undefined'],
  ];
  for (const [method, call] of methods) {
    it.each(ids)(`${method}: %s`, async (_, id, says) => {
      const message = await messageOfEither(() => call(supervisor(), id as string));
      expect(message.startsWith(`${method}: `), message).toBe(true);
      expect(message).toContain(says);
    });
  }
});

describe("on() with an event name from Node's or ws's habits says where that goes here", () => {
  // `supervisor.on('error', …)` is what an EventEmitter user writes first; it named only the six events.
  it.each([
    ['error', /unknown event error: .*errors go to the onError option of createSupervisor\(\)/],
    ['connection', /unknown event connection: .*the onOpen option, or the 'admitted' event/],
    ['message', /unknown event message: .*the onMessage option/],
    ['close', /unknown event close: .*the onClose option, or the 'disposed' event/],
    // What a test of an app reaches for after ws's client ('open') and Socket.IO ('connect', 'disconnect').
    ['open', /unknown event open: .*a connection that opened: the onOpen option, or the 'admitted' event/],
    ['connect', /unknown event connect: .*a new connection: the onOpen option, or the 'admitted' event/],
    [
      'disconnect',
      /unknown event disconnect: .*a connection's end: the onClose option, or the 'disposed' event/,
    ],
    [
      'opened',
      /^unknown event opened: one of admitted, rejected, evicted, disposed, store, capacity, incarnation, offline, reaped$/,
    ],
  ])('%s', (name, says) => {
    expect(messageOf(() => supervisor().on(name as never, () => {}))).toMatch(says);
  });
});
