/**
 * allowedOrigins: the guard against cross-site WebSocket hijacking. A browser
 * sends its user's cookies with an upgrade opened from any site, so a server
 * that authenticates by cookie must refuse the pages of other sites by their
 * `Origin` header. Real `ws` clients send the header (`{ origin }`); a
 * forbidden origin is refused before `authenticate`, with nothing allocated.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import WebSocket from 'ws';
import { InvalidOptionError, resolveOptions } from '../../src/index.js';
import { registerMetrics } from '../../src/metrics/index.js';
import { parseExposition } from '../helpers/prometheus.js';
import { closeRefusal, httpRefusal } from '../helpers/refusals.js';
import { startRulesServer } from '../helpers/rules.js';
import { allDisposed, connect, expectNoLeaks, userFromQuery } from '../helpers/server.js';

const app = 'https://app.example.com';

describe('allowedOrigins', () => {
  it('admits an allowed origin, and a request without Origin (not a browser)', async () => {
    const t = await startRulesServer({ allowedOrigins: [app] });
    const fromApp = await connect(t.url('alice'), { origin: app });
    const noOrigin = await connect(t.url('bob'));
    expect(t.events.admitted.map((event) => event.userId)).toEqual(['alice', 'bob']);
    expect(t.events.rejected).toEqual([]);
    fromApp.close();
    noOrigin.close();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });

  it('refuses another origin with 403 before authenticate: no call, no actor, no slot', async () => {
    const authenticate = vi.fn(userFromQuery);
    const t = await startRulesServer({ allowedOrigins: [app], authenticate });
    const registry = new Registry();
    onTestFinished(registerMetrics(t.supervisor, { registry }));
    const counted = async () =>
      parseExposition(await registry.metrics()).value('ws_supervisor_rejected_total', {
        reason: 'origin-not-allowed',
        status: '403',
      });
    expect(await counted()).toBe(0);
    const before = t.supervisor.stats();

    const refused = await httpRefusal(t.url('mallory'), { origin: 'https://evil.example' });
    expect(refused).toMatchObject({ status: 403, body: 'origin not allowed\n' });
    expect(refused.headers['retry-after']).toBeUndefined();
    expect(authenticate).not.toHaveBeenCalled();
    expect(t.events.rejected).toEqual([
      {
        reason: 'origin-not-allowed',
        status: 403,
        userId: undefined,
        message: 'origin not allowed',
        via: 'http',
        retryAfterMs: undefined,
        remoteAddress: '127.0.0.1',
      },
    ]);
    expect(t.supervisor.stats().resources).toEqual(before.resources);
    expect(t.supervisor.stats().counters.rejected).toBe(1);
    expect(await counted()).toBe(1);
    expectNoLeaks(t.supervisor);
  });

  it("with refuse: 'close', the browser reads close code 4403", async () => {
    const t = await startRulesServer({ allowedOrigins: [app], refuse: 'close' });
    expect(await closeRefusal(t.url('mallory'), { origin: 'https://evil.example' })).toEqual({
      code: 4403,
      reason: 'origin not allowed refusal=origin-not-allowed',
      retryAfter: undefined,
    });
    expect(t.events.rejected).toMatchObject([{ reason: 'origin-not-allowed', status: 403, via: 'close' }]);
    await vi.waitFor(() => expectNoLeaks(t.supervisor));
  });

  it('compares serialized origins: case and default ports of the configured ones do not matter', async () => {
    const t = await startRulesServer({
      allowedOrigins: ['HTTPS://App.Example.COM:443', 'http://localhost:8080/'],
    });
    const held = [
      await connect(t.url('a'), { origin: app }),
      await connect(t.url('b'), { origin: 'http://localhost:8080' }),
    ];
    // Another scheme, port or host is another origin.
    for (const origin of [
      'http://app.example.com',
      'https://app.example.com:8443',
      'http://localhost:8081',
      'https://app.example.com.evil.example',
      'null', // an opaque origin: a sandboxed iframe, a file:// page
    ]) {
      expect((await httpRefusal(t.url('c'), { origin })).status, origin).toBe(403);
    }
    for (const ws of held) ws.close();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });

  it('matches a RegExp against the serialized origin', async () => {
    const t = await startRulesServer({ allowedOrigins: [/^https:\/\/[a-z0-9-]+\.example\.com$/] });
    const ws = await connect(t.url('a'), { origin: 'https://tenant-1.example.com' });
    expect((await httpRefusal(t.url('b'), { origin: 'https://example.com.evil.example' })).status).toBe(403);
    ws.close();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });

  it('reads Sec-WebSocket-Origin from a version 8 handshake, as ws does', async () => {
    const t = await startRulesServer({ allowedOrigins: [app] });
    const refused = await httpRefusal(t.url('a'), { origin: 'https://evil.example', protocolVersion: 8 });
    expect(refused.status).toBe(403);
    const ws = await connect(t.url('b'), { origin: app, protocolVersion: 8 });
    ws.close();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });

  it('unset, checks nothing (as before)', async () => {
    const t = await startRulesServer();
    expect(t.supervisor.options.allowedOrigins).toBeUndefined();
    const ws = await connect(t.url('a'), { origin: 'https://anywhere.example' });
    ws.close();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });

  it.each<[string, unknown, string]>([
    ['a string, not a list', app, 'allowedOrigins'],
    ['no scheme', ['app.example.com'], 'allowedOrigins[0]'],
    ['a wildcard', ['*'], 'allowedOrigins[0]'],
    ["the opaque origin 'null'", ['null'], 'allowedOrigins[0]'],
    ['a path', [`${app}/chat`], 'allowedOrigins[0]'],
    ['a query', [`${app}/?x=1`], 'allowedOrigins[0]'],
    ['credentials', ['https://user@app.example.com'], 'allowedOrigins[0]'],
    ['a scheme without an origin', ['chrome-extension://abc'], 'allowedOrigins[0]'],
    ['a number', [app, 42], 'allowedOrigins[1]'],
    ['a stateful (global) RegExp', [/example/g], 'allowedOrigins[0]'],
    ['a sticky RegExp', [/example/y], 'allowedOrigins[0]'],
    ['a function', [() => true], 'allowedOrigins[0]'],
    ['null', null, 'allowedOrigins'],
  ])('refuses %s at createSupervisor', (_name, value, option) => {
    const attempt = () => resolveOptions({ authenticate: () => 'u', allowedOrigins: value as never });
    expect(attempt).toThrow(InvalidOptionError);
    expect(attempt).toThrow(expect.objectContaining({ code: 'WSSUP_INVALID_OPTION', option }));
  });

  // Socket.IO's cors: { origin: '*' } (or true): every origin is what leaving the option out does.
  it.each<[string, unknown, string]>([
    ["'*'", '*', 'allowedOrigins'],
    ['true', true, 'allowedOrigins'],
    ["['*']", ['*'], 'allowedOrigins[0]'],
  ])('refuses %s, saying to leave the option out to allow every origin', (_name, value, option) => {
    const attempt = () => resolveOptions({ authenticate: () => 'u', allowedOrigins: value as never });
    expect(attempt).toThrow(expect.objectContaining({ code: 'WSSUP_INVALID_OPTION', option }));
    expect(attempt).toThrow(/; leave allowedOrigins out to allow every origin, received /);
  });

  it('does not say so for another bad value', () => {
    const attempt = () => resolveOptions({ authenticate: () => 'u', allowedOrigins: ['app.example.com'] });
    expect(attempt).toThrow(
      /^Invalid option "allowedOrigins\[0\]": expected an origin such as 'https:\/\/app\.example\.com', or a RegExp, received /,
    );
    expect(attempt).not.toThrow(/every origin/);
  });

  // It checked only that the option resolved to something: an empty list read as "no check"
  // (every origin admitted, the opposite of what it says) passed.
  it('accepts an empty list: only clients without Origin (not browsers) get in', async () => {
    const t = await startRulesServer({ allowedOrigins: [] });
    const noOrigin = await connect(t.url('bob'));
    expect((await httpRefusal(t.url('mallory'), { origin: app })).status).toBe(403);
    expect(t.events.admitted.map((event) => event.userId)).toEqual(['bob']);
    expect(t.events.rejected).toMatchObject([{ reason: 'origin-not-allowed', status: 403 }]);
    noOrigin.close();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });
});

// The README's "Coming from Socket.IO" says why allowedOrigins is needed there: in Socket.IO 4.8
// `cors.origin` sets CORS headers on HTTP requests only, and an upgrade from any origin connects.
describe('Socket.IO 4.8, for comparison', () => {
  it('cors.origin does not refuse a WebSocket upgrade from another origin', async () => {
    const { Server } = await import('socket.io');
    const http = createServer();
    const io = new Server(http, { cors: { origin: app }, transports: ['websocket'] });
    onTestFinished(() => new Promise<void>((resolve) => void io.close(() => resolve())));
    http.listen(0, '127.0.0.1');
    await once(http, 'listening');
    const { port } = http.address() as AddressInfo;
    const url = `ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket`;
    const foreign = new WebSocket(url, { origin: 'https://evil.example' });
    onTestFinished(() => foreign.terminate());
    // Engine.IO's open packet: the handshake was accepted, not just the TCP connection.
    const [data] = (await once(foreign, 'message')) as [Buffer];
    expect(data.toString()).toMatch(/^0\{"sid":/);
  });
});
