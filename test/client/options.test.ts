/**
 * createClient()'s options, checked before anything is allocated, and the
 * promise that the client runs in a browser: its modules import nothing but
 * xstate and each other (no `node:` built-in, no ws, nothing of the server).
 */
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { SimulatedClock } from 'xstate';
import {
  clientDefaults,
  createClient,
  InvalidOptionError,
  SupervisorError,
  type WebSocketConstructorLike,
} from '../../src/client/index.js';
import { resolveClientOptions } from '../../src/client/options.js';
import { clientSharedModules } from '../helpers/client-modules.js';
import { readPage } from '../helpers/docs.js';
import { expectReleased, startClient } from './helpers.js';

const WS: WebSocketConstructorLike = WebSocket;
const url = 'ws://127.0.0.1:9/';

describe('createClient() options', () => {
  it.each([
    ['url', { url: 42 }],
    ['url', { url: 'not a url' }],
    ['url', { url: 'ftp://host/' }],
    ['url', { url: 'ws://host/#frag' }],
    ['WebSocket', { url, WebSocket: 'ws' }],
    ['protocols', { url, protocols: [1] }],
    ['binaryType', { url, binaryType: 'nodebuffer' }],
    ['backoff', { url, backoff: 5 }],
    ['backoff.baseMs', { url, backoff: { baseMs: 0 } }],
    ['backoff.baseMs', { url, backoff: { baseMs: 1.5 } }],
    ['backoff.capMs', { url, backoff: { baseMs: 1_000, capMs: 999 } }],
    ['backoff.factor', { url, backoff: { factor: 0.5 } }],
    ['backoff.factor', { url, backoff: { factor: Number.NaN } }],
    ['shutdownWindowMs', { url, shutdownWindowMs: -1 }],
    ['shutdownWindowMs', { url, shutdownWindowMs: 2 ** 31 }],
    ['connectTimeoutMs', { url, connectTimeoutMs: 0 }],
    ['stableAfterMs', { url, stableAfterMs: '5s' }],
    ['maxAttempts', { url, maxAttempts: 0 }],
    ['maxAttempts', { url, maxAttempts: 2.5 }],
    ['maxAttempts', { url, maxAttempts: '3' }],
    ['maxAttempts', { url, maxAttempts: Number.POSITIVE_INFINITY }],
    ['maxAttempts', { url, maxAttempts: null }],
    ['closeTimeoutMs', { url, closeTimeoutMs: 0 }],
    ['closeTimeoutMs', { url, closeTimeoutMs: 2.5 }],
    ['closeTimeoutMs', { url, closeTimeoutMs: 2 ** 31 }],
    ['closeTimeoutMs', { url, closeTimeoutMs: '5s' }],
    ['random', { url, random: 0.5 }],
    ['silenceTimeoutMs', { url, silenceTimeoutMs: 0 }],
    ['silenceTimeoutMs', { url, silenceTimeoutMs: 1.5 }],
    ['silenceTimeoutMs', { url, silenceTimeoutMs: 2 ** 31 }],
    ['silenceTimeoutMs', { url, silenceTimeoutMs: null }],
    ['heartbeatMessage', { url, heartbeatMessage: '' }],
    ['heartbeatMessage', { url, heartbeatMessage: '\uFEFFhb' }],
    ['heartbeatMessage', { url, heartbeatMessage: 42 }],
    ['heartbeatMessage', { url, heartbeatMessage: 'x'.repeat(126) }],
    ['heartbeatMessage', { url, heartbeatMessage: 'é'.repeat(63) }], // 126 bytes in UTF-8
    ['heartbeatMessage', { url, heartbeatMessage: 'ping\uD800' }], // sent as U+FFFD: never matched
    // Checked as the supervisor checks its own nested options and `inspect`: a typo in a
    // backoff key was ignored, and a bad subprotocol failed every attempt, backed off forever.
    ['backoff.baseMS', { url, backoff: { baseMS: 100 } }],
    ['backoff', { url, backoff: [100] }],
    ['inspect', { url, inspect: 5 }],
    ['inspect', { url, inspect: 'log' }],
    ['protocols', { url, protocols: 'chat v1' }],
    ['protocols', { url, protocols: '' }],
    ['protocols', { url, protocols: ['chat', 'chat'] }],
    ['protocols', { url, protocols: ['chat', 'ü'] }],
    ['clock', { url, clock: {} }],
    ['clock', { url, clock: { setTimeout: () => 0 } }],
    ['reconnect', { url, reconnect: false }],
    ['reconnectOnOnline', { url, reconnectOnOnline: 'yes' }],
    ['reconnectOnOnline', { url, reconnectOnOnline: null }],
    ['closeOnOffline', { url, closeOnOffline: 'no' }],
    ['closeOnOffline', { url, closeOnOffline: 0 }],
    // XState's createActor threw a TypeError without a code for these.
    ['inspect', { url, inspect: 42 }],
    ['inspect', { url, inspect: 'console' }],
    ['inspect', { url, inspect: { next: 'log' } }],
    // null is a value, not an absent option: like every other option, it must not become the default.
    ['inspect', { url, inspect: null }],
    ['WebSocket', { url, WebSocket: null }],
    ['backoff', { url, backoff: null }],
    ['backoff.factor', { url, backoff: { factor: null } }],
  ])('refuses a bad %s with WSSUP_INVALID_OPTION, naming it', (option, options) => {
    const attempt = () => createClient({ WebSocket: WS, ...options } as never);
    expect(attempt).toThrow(InvalidOptionError);
    try {
      attempt();
    } catch (error) {
      expect(error).toMatchObject({ code: 'WSSUP_INVALID_OPTION', option });
    }
  });

  it('refuses a clock whose now is not a function (the silence watch reads it on every message)', () => {
    const clock = { setTimeout: () => 0, clearTimeout: () => {}, now: 5 };
    expect(() => createClient({ url, WebSocket: WS, clock } as never)).toThrow(
      expect.objectContaining({ code: 'WSSUP_INVALID_OPTION', option: 'clock' }),
    );
  });

  it.each([
    [['a', 'a'], 'received an array naming "a" twice (case aside).'],
    [['chat', 'v1', 'chat'], 'received an array naming "chat" twice (case aside).'],
    // undici's WebSocket compares without case (it throws at every attempt); ws and browsers do not.
    [['chat', 'CHAT'], 'received an array naming "CHAT" twice (case aside).'],
    // A hole, which `every` skips and ws throws on.
    // biome-ignore lint/suspicious/noSparseArray: the hole is the case
    [[, 'chat'], 'received an array holding undefined, which is not a subprotocol name.'],
    [['chat', 'ü'], 'received an array holding "ü", which is not a subprotocol name.'],
    [['chat', 1], 'received an array holding 1, which is not a subprotocol name.'],
    ['chat v1', 'received "chat v1".'],
  ])('says what is wrong with protocols %j', (protocols, ending) => {
    expect(() => createClient({ url, WebSocket: WS, protocols } as never)).toThrow(
      expect.objectContaining({
        option: 'protocols',
        message: expect.stringContaining(`or an array of distinct ones, ${ending}`),
      }),
    );
  });

  it('refuses the longest array there is, all holes, at its first hole: nothing copied (review)', () => {
    expect(() => createClient({ url, WebSocket: WS, protocols: new Array(2 ** 32 - 1) } as never)).toThrow(
      expect.objectContaining({
        option: 'protocols',
        message: expect.stringContaining(
          'received an array holding undefined, which is not a subprotocol name.',
        ),
      }),
    );
  });

  it('takes a heartbeatMessage of up to 125 bytes in UTF-8', () => {
    for (const heartbeatMessage of ['x'.repeat(125), 'é'.repeat(62), '💓']) {
      expect(resolveClientOptions({ url, WebSocket: WS, heartbeatMessage }).heartbeatMessage).toBe(
        heartbeatMessage,
      );
    }
  });

  it.each(['http://127.0.0.1:9/', 'https://example.test/chat', new URL('ws://127.0.0.1:9/')])(
    'takes %s, as a WebSocket does',
    (given) => {
      expect(() => resolveClientOptions({ url: given, WebSocket: WS })).not.toThrow();
    },
  );

  it('says to pass ws’s WebSocket when there is no global one (Node 20)', () => {
    // Node 22 and later have a global WebSocket: take it away, so this holds on every Node.
    vi.stubGlobal('WebSocket', undefined);
    onTestFinished(() => void vi.unstubAllGlobals());
    expect(() => createClient({ url })).toThrow(/no global WebSocket in Node 20: pass `WebSocket` from 'ws'/);
  });

  // A test wiring the client to a SimulatedClock: "received a function" or "received an object"
  // did not say what was wrong, where createSupervisor()'s `clock` does.
  it.each<[string, unknown, string]>([
    [
      'the class instead of an instance',
      SimulatedClock,
      'received a function (a clock is an object, e.g. new SimulatedClock(), not a class or a function).',
    ],
    [
      'a clock without clearTimeout',
      { setTimeout() {} },
      'received an object (its clearTimeout is undefined).',
    ],
  ])('clock: %s, says what is wrong with it, as createSupervisor() does', (_name, clock, ending) => {
    const attempt = () => createClient({ url, WebSocket: WS, clock: clock as never });
    expect(attempt).toThrow(
      `Invalid option "clock": expected an object with setTimeout and clearTimeout, ${ending}`,
    );
  });

  it('the README’s option table names exactly the known options, with these defaults', () => {
    const readme = readPage('docs/client.md');
    const section = readme.split(/^## Client$/m)[1]?.split(/^## /m)[0] ?? '';
    const table = section.slice(section.indexOf('| Option | Default | Meaning |'));
    const rows = [...table.matchAll(/^\| ((?:`\w+`(?:, )?)+) \| ([^|]+) \|/gm)].map((match) => ({
      names: [...(match[1] as string).matchAll(/`(\w+)`/g)].map((name) => name[1] as string),
      defaults: (match[2] as string).trim(),
    }));
    let known: string[] = [];
    try {
      createClient({ url, WebSocket: WS, notAnOption: 1 } as never);
    } catch (error) {
      known = (error as InvalidOptionError).allowed
        .replace(/^one of the known options \((.*)\)$/, '$1')
        .split(', ');
    }
    expect(rows.flatMap((row) => row.names).sort()).toEqual(known.sort());
    const said = Object.fromEntries(rows.map((row) => [row.names[0], row.defaults]));
    const { backoff, ...timings } = clientDefaults;
    expect(said.backoff).toBe(
      `\`{ baseMs: ${backoff.baseMs}, capMs: ${backoff.capMs}, factor: ${backoff.factor} }\``,
    );
    for (const [name, value] of Object.entries(timings)) expect(said[name], name).toBe(String(value));
  });

  it('keeps capMs at least baseMs: a baseMs above the default cap, without a capMs, is the cap too', () => {
    const resolve = (backoff: object) =>
      resolveClientOptions({ url, WebSocket: WS, backoff }).machine.backoff;
    expect(resolve({ baseMs: 60_000 })).toEqual({ baseMs: 60_000, capMs: 60_000, factor: 2 });
    expect(resolve({ baseMs: 1_000 })).toEqual({ baseMs: 1_000, capMs: 30_000, factor: 2 });
    expect(resolve({ baseMs: 1_000, capMs: 1_000 })).toEqual({ baseMs: 1_000, capMs: 1_000, factor: 2 });
    // A cap given below the base is refused (the table above), not raised.
    expect(() => resolve({ baseMs: 60_000, capMs: 30_000 })).toThrow(InvalidOptionError);
  });

  // Every client resolves its options from clientDefaults: a caller's write (a page that set
  // clientDefaults.backoff.capMs = 0 once) would change the reconnect pace of every later client.
  it('its defaults cannot be changed by a caller, backoff included', () => {
    expect(() => {
      (clientDefaults as { connectTimeoutMs: number }).connectTimeoutMs = 1;
    }).toThrow(TypeError);
    expect(() => {
      (clientDefaults.backoff as { capMs: number }).capMs = 0;
    }).toThrow(TypeError);
    const resolved = resolveClientOptions({ url, WebSocket: WS }).machine;
    expect(resolved.backoff).toEqual({ baseMs: 500, capMs: 30_000, factor: 2 });
    expect(resolved.connectTimeoutMs).toBe(10_000);
  });

  it('documents its defaults', () => {
    expect(clientDefaults).toEqual({
      backoff: { baseMs: 500, capMs: 30_000, factor: 2 },
      shutdownWindowMs: 10_000,
      connectTimeoutMs: 10_000,
      stableAfterMs: 5_000,
      closeTimeoutMs: 5_000,
    });
  });
});

describe("createClient() given an option of socket.io-client's", () => {
  // What a Socket.IO user passes first; each got the bare list of options, and a typo no hint.
  it.each([
    ['reconnectionDelay', /here probably "backoff\.baseMs"/],
    ['reconnectionDelayMax', /here probably "backoff\.capMs"/],
    ['randomizationFactor', /; there is no equivalent: the jitter is always full \(backoff\), received /],
    ['timeout', /here probably "connectTimeoutMs"/],
    // Not "here probably maxAttempts": the numbers differ by one.
    [
      'reconnectionAttempts',
      /; reconnectionAttempts: n is maxAttempts: n \+ 1 \(a lost connection is the first failure, once it had lasted stableAfterMs\)/,
    ],
    [
      'auth',
      // socket.io-client's auth may be a callback that fetches a token first: so may the url.
      /; a browser's WebSocket sends no headers and no auth payload: put the token in the url, which may be async: url: async \(\) => /,
    ],
    [
      'query',
      /; the query goes in the url, which may be a function, called for each attempt: url: \(\) => 'wss:\/\/host\/\?room=' \+ room, received /,
    ],
    ['extraHeaders', /; a browser's WebSocket sends no headers/],
    ['transports', /; WebSocket only: there is no long-polling fallback/],
    [
      'reconnection',
      /; reconnection: false is maxAttempts: 1 \(suspended after the first failure, until resume\(\)\); else it always reconnects \(but after a code it must not retry, or after maxAttempts failures in a row\): client\.close\(\) stops it/,
    ],
    // Not "here probably reconnectOnOnline", which its spelling alone gave: a browser event.
    [
      'reconnect',
      /; it always reconnects \(but after a code it must not retry, or after maxAttempts failures in a row\): client\.close\(\) stops it/,
    ],
    ['autoConnect', /; it connects at once: create it when it should connect/],
    // socket.io-client's path ('/socket.io/' by default) is part of the url here.
    [
      'path',
      /; the path goes in the url: 'wss:\/\/host\/chat' \(the server's attach\(server, \{ path: '\/chat' \}\)\)/,
    ],
    ['withCredentials', /; a browser's WebSocket sends the server's cookies by itself/],
    ['ackTimeout', /; there are no acknowledgements: put an id in the message/],
    ['retries', /; there are no acknowledgements: put an id in the message/],
    ['stableAfter', /here probably "stableAfterMs"/],
  ])('%s says where that goes here', (name, says) => {
    expect(() => createClient({ url, WebSocket: WS, [name]: 1 } as never)).toThrow(
      expect.objectContaining({
        code: 'WSSUP_INVALID_OPTION',
        option: name,
        message: expect.stringMatching(says),
      }),
    );
  });

  // As createSupervisor(): the option probably meant, alone, or else the list to choose from.
  it('a typo names the option it probably meant and no list; a name close to none lists them', () => {
    const refusal = (name: string) => {
      try {
        createClient({ url, WebSocket: WS, [name]: 1 } as never);
      } catch (error) {
        return (error as InvalidOptionError).allowed;
      }
      throw new Error(`${name} was accepted`);
    };
    expect(refusal('conectTimeoutMs')).toBe('one of the known options, here probably "connectTimeoutMs"');
    expect(refusal('colour')).toMatch(/^one of the known options \(url, .*backoff.*\)$/);
  });

  // io() and io('/chat') reach the page's own server; a relative url here cannot (ws cannot resolve it).
  it.each([['/chat?token=t'], ['/'], ['']])(
    'a relative url %j says how a page names its own server',
    (given) => {
      expect(() => createClient({ url: given, WebSocket: WS })).toThrow(
        expect.objectContaining({
          code: 'WSSUP_INVALID_OPTION',
          option: 'url',
          received: given,
          message: expect.stringContaining(
            "(socket.io-client's io() and io('/chat') are the page's own server: in a page, location.origin + '/chat')",
          ),
        }),
      );
    },
  );
  it('an absolute url that is not one says nothing of pages', () => {
    expect(() => createClient({ url: 'ftp://host/', WebSocket: WS })).toThrow(
      expect.objectContaining({ message: expect.not.stringContaining('location.origin') }),
    );
  });
});

describe('client.on()', () => {
  // As supervisor.on(): a caller's mistake is a typed error at the call. An unknown name threw a
  // bare TypeError ('toString' found Object.prototype's), and a non-function was kept, to fail
  // at every event.
  it.each([
    ['an unknown event', 'opened', () => {}],
    ["Object.prototype's toString", 'toString', () => {}],
    ['__proto__', '__proto__', () => {}],
    ['a listener that is not a function', 'open', 'log'],
    ['no listener', 'close', undefined],
    // From JavaScript: a name that is no string at all (a bare TypeError while the key was read).
    ['a name with no prototype (no toString)', Object.create(null) as unknown, () => {}],
    [
      'a name whose toString throws',
      {
        toString: () => {
          throw new Error('no');
        },
      },
      () => {},
    ],
    ['a symbol', Symbol('open'), () => {}],
    ['a number', 1, () => {}],
  ])('refuses %s with WSSUP_INVALID_ARGUMENT', (_what, type, listener) => {
    const client = createClient({ url, WebSocket: WS });
    onTestFinished(() => client.close());
    expect(() => client.on(type as 'open', listener as never)).toThrow(SupervisorError);
    expect(() => client.on(type as 'open', listener as never)).toThrow(
      expect.objectContaining({ code: 'WSSUP_INVALID_ARGUMENT' }),
    );
    client.close();
    expect(() => client.on(type as 'open', listener as never)).toThrow(SupervisorError); // closed or not
  });
});

describe('createClient() protocols', () => {
  // It only checked that createClient() did not throw: dropping the list on the way to the
  // WebSocket constructor passed. A server reads the offer and picks one; the socket says which.
  it.each([
    ['a subprotocol list', ['chat.v1', 'x-json'], 'x-json'],
    ['one subprotocol as a string', 'chat.v1', 'chat.v1'],
  ])('offers %s to the server, which picks one', async (_what, protocols, picked) => {
    const server = new WebSocketServer({
      port: 0,
      host: '127.0.0.1',
      handleProtocols: (offered) => (offered.has('x-json') ? 'x-json' : ([...offered][0] ?? false)),
    });
    onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())));
    await once(server, 'listening');
    const offered = new Promise<string | undefined>((resolve) =>
      server.once('connection', (_ws, request) => resolve(request.headers['sec-websocket-protocol'])),
    );
    const { port } = server.address() as AddressInfo;
    const t = startClient({ url: `ws://127.0.0.1:${port}/`, protocols });
    await t.next('open');
    expect((await offered)?.split(/\s*,\s*/)).toEqual([protocols].flat());
    expect(t.sockets.map((socket) => socket.protocol)).toEqual([picked]);
    t.client.close();
    await expectReleased(t);
  });
});

describe('the client runs in a browser', () => {
  it('imports nothing but xstate and its own modules (no Node built-in)', () => {
    const root = new URL('../../', import.meta.url);
    const seen = new Set<string>();
    const bare = new Set<string>();
    const visit = (path: string) => {
      if (seen.has(path)) return;
      seen.add(path);
      const source = readFileSync(new URL(path, root), 'utf8');
      for (const [, from] of source.matchAll(/^(?:import|export)(?! type)(?:[^;]*? from)? '([^']+)';$/gms)) {
        if (from === undefined) continue;
        if (!from.startsWith('.')) bare.add(from);
        else
          visit(
            new URL(from.replace(/\.js$/, '.ts'), new URL(path, root)).pathname.slice(root.pathname.length),
          );
      }
    };
    visit('src/client/index.ts');
    expect([...bare]).toEqual(['xstate']);
    expect([...seen].sort()).toEqual(
      [
        'machines/client-close.ts',
        'machines/client.machine.ts',
        'src/client/attempt-url.ts',
        'src/client/client.ts',
        'src/client/index.ts',
        'src/client/network-actor.ts',
        'src/client/options.ts',
        'src/client/refused-upgrade.ts',
        'src/client/silence-clock.ts',
        'src/client/socket-actor.ts',
        'src/client/websocket-like.ts',
        // The modules the browser pages serve from dist/src/ (test/helpers/client-modules.ts).
        ...clientSharedModules.map((name) => `src/${name}.ts`),
      ].sort(),
    );
  });
});
