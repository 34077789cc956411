/**
 * examples/per-ip-limit.ts, in process on port 0 with real `ws` clients and simulated time:
 * a second limit, per network address, kept by the app beside the library's per-user one.
 * The 21st visitor connection of one address is refused with the app's 429 (close 4429);
 * the count comes back to 0 after an authenticate that timed out or whose client left while
 * it ran (the signal check after the last await: without it, each leaked a slot, a new-user
 * trial's repro 11) and after a refusal at the user limit (rejected); a reconnect naming a
 * live connection's client instance with a later attempt time is admitted at the cap (it
 * replaces that connection), an equal or earlier one is not (the library admits it beside);
 * X-Forwarded-For counts only from a trusted proxy, walked from the right past the trusted
 * ones, its entries normalised (a port, IPv4-mapped, IPv6 by its /64, a non-address).
 *
 * It imports the example, which imports `ws-supervisor` by name: build first (npm test does).
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { expect, it, onTestFinished, vi } from 'vitest';
import WebSocket from 'ws';
import { SimulatedClock } from 'xstate';
import { createPerIpApp, type PerIpOptions } from '../../examples/per-ip-limit.js';

const authenticateTimeoutMs = 5_000;

async function start(options: Partial<PerIpOptions> = {}, host = '127.0.0.1') {
  const clock = new SimulatedClock();
  const app = createPerIpApp({
    secret: 'test-secret',
    trustedProxies: [],
    clock,
    authenticateTimeoutMs,
    ...options,
  });
  app.server.listen(0, host);
  await once(app.server, 'listening');
  onTestFinished(async () => {
    await app.supervisor.shutdown({ deadlineMs: 200 });
    await new Promise((resolve) => app.server.close(resolve));
  });
  const url = `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}/chat`;
  /** A client of visitor `visitor` (query and headers its own); cleaned up after the test. */
  const visit = (visitor: string, query = '', headers: Record<string, string | string[]> = {}) => {
    const ws = new WebSocket(`${url}${query}`, {
      headers: { cookie: app.visitorCookie(visitor), ...headers },
    });
    ws.on('error', () => {});
    onTestFinished(() => ws.terminate());
    return ws;
  };
  /**
   * Resolves with 'open' at the app's welcome, or the close code and reason of a refusal
   * (`refuse: 'close'`: a refused client opens, then reads the close).
   */
  const outcome = (ws: WebSocket) =>
    new Promise<string>((resolve) => {
      ws.once('message', () => resolve('open'));
      ws.once('close', (code, reason) => resolve(`${code} ${reason.toString()}`));
    });
  return { app, clock, url, visit, outcome };
}

/** A session lookup the test answers: each call waits until the test says. */
function heldLookup() {
  const calls: { signal: AbortSignal; answer: (ok: boolean) => void }[] = [];
  const lookupVisitor = (_visitorId: string, signal: AbortSignal) =>
    new Promise<boolean>((answer) => calls.push({ signal, answer }));
  return { calls, lookupVisitor };
}

it('refuses the 21st visitor connection of one address with the app’s 429 (close 4429), and frees the slot at a close', async () => {
  const { app, visit, outcome } = await start();
  const clients = Array.from({ length: 20 }, (_, i) => visit(`v${i}`)); // 20 visitors, one tab each
  expect(await Promise.all(clients.map(outcome))).toEqual(Array(20).fill('open'));
  expect(app.perAddress.get('127.0.0.1')).toBe(20);
  expect(await outcome(visit('v20'))).toBe(
    '4429 too many connections from your network refusal=refused retry-after=30',
  );
  expect(app.perAddress.get('127.0.0.1')).toBe(20);
  // An agent is no visitor: not counted per address.
  const agent = new WebSocket(`${visit('x').url.split('?')[0]}?token=agent-ann`);
  onTestFinished(() => agent.terminate());
  expect(await outcome(agent)).toBe('open');
  // A visitor's slot comes back when its connection is disposed.
  clients[0]?.close();
  await vi.waitFor(() => expect(app.perAddress.get('127.0.0.1')).toBe(19));
  expect(await outcome(visit('v21'))).toBe('open');
});

it('reserves nothing for an authenticate that timed out: the count is back to 0', async () => {
  const { calls, lookupVisitor } = heldLookup();
  const { app, clock, visit, outcome } = await start({ lookupVisitor });
  const ws = visit('slow');
  const answered = outcome(ws);
  await vi.waitFor(() => expect(calls).toHaveLength(1));
  clock.increment(authenticateTimeoutMs);
  expect(await answered).toBe('4500 authentication failed refusal=auth-failed');
  calls[0]?.answer(true); // the lookup answers late: the verdict is ignored
  await vi.waitFor(() => expect(app.supervisor.stats().resources?.authenticating ?? 0).toBe(0));
  await new Promise((resolve) => setImmediate(resolve));
  expect(Object.fromEntries(app.perAddress)).toEqual({});
});

it('reserves nothing for a client that left while authenticate ran: the count is back to 0', async () => {
  const { calls, lookupVisitor } = heldLookup();
  const { app, visit } = await start({ lookupVisitor });
  const ws = visit('leaving');
  await vi.waitFor(() => expect(calls).toHaveLength(1));
  ws.terminate(); // the tab closed
  await vi.waitFor(() => expect(calls[0]?.signal.aborted).toBe(true));
  calls[0]?.answer(true);
  await new Promise((resolve) => setImmediate(resolve));
  expect(Object.fromEntries(app.perAddress)).toEqual({});
  expect(app.supervisor.stats().connections).toBe(0);
});

it('admits a reconnect that names a live connection’s client instance at the cap, and the count settles back to 20', async () => {
  const { app, visit, outcome } = await start();
  const instance = 'tab-0123456789abcdef';
  const first = visit('v0', `?wssup-instance=${instance}.1000`);
  const others = Array.from({ length: 19 }, (_, i) => visit(`v${i + 1}`));
  expect(await Promise.all([first, ...others].map(outcome))).toEqual(Array(20).fill('open'));
  expect(await outcome(visit('v0'))).toMatch(/^4429 /); // the same visitor without the instance: refused
  const replaced = once(first, 'close');
  const reconnect = visit('v0', `?wssup-instance=${instance}.2000`);
  expect(await outcome(reconnect)).toBe('open');
  expect(String((await replaced)[0])).toBe('4001');
  await vi.waitFor(() => expect(app.perAddress.get('127.0.0.1')).toBe(20));
});

it('ignores X-Forwarded-For from a peer that is not a trusted proxy, and reads it from one that is', async () => {
  const spoofed = await start({ trustedProxies: ['10.0.0.1'] });
  const liar = spoofed.visit('liar', '', { 'x-forwarded-for': '203.0.113.9' });
  expect(await spoofed.outcome(liar)).toBe('open');
  expect(Object.fromEntries(spoofed.app.perAddress)).toEqual({ '127.0.0.1': 1 });

  const proxied = await start({ trustedProxies: ['127.0.0.1'] });
  const client = proxied.visit('behind', '', { 'x-forwarded-for': '198.51.100.1, 203.0.113.9' });
  expect(await proxied.outcome(client)).toBe('open');
  expect(Object.fromEntries(proxied.app.perAddress)).toEqual({ '203.0.113.9': 1 });
});

it('refuses at the cap a claim naming a live connection’s instance with an equal or earlier attempt time: the library would admit it beside, not replace', async () => {
  const { app, visit, outcome } = await start({ perAddress: 3 });
  const instance = 'tab-0123456789abcdef';
  const first = visit('v0', `?wssup-instance=${instance}.5000`);
  expect(await Promise.all([first, visit('v1'), visit('v2')].map(outcome))).toEqual(Array(3).fill('open'));
  expect(await outcome(visit('v0', `?wssup-instance=${instance}.5000`))).toMatch(
    /^4429 too many connections/,
  );
  expect(await outcome(visit('v0', `?wssup-instance=${instance}.1`))).toMatch(/^4429 too many connections/);
  expect(first.readyState).toBe(WebSocket.OPEN);
  expect(app.perAddress.get('127.0.0.1')).toBe(3);
  expect(app.supervisor.stats().connections).toBe(3);
});

it('releases the reservation of a connection the library rejects at the user limit: a 4th tab leaves the count at 3', async () => {
  const { app, visit, outcome } = await start();
  expect(await Promise.all([visit('v0'), visit('v0'), visit('v0')].map(outcome))).toEqual(
    Array(3).fill('open'),
  );
  expect(await outcome(visit('v0'))).toMatch(/^4429 /); // the library's per-user limit (3), not the app's
  await new Promise((resolve) => setImmediate(resolve));
  expect(app.perAddress.get('127.0.0.1')).toBe(3);
});

it('normalises an IPv4-mapped peer: a dual-stack listener’s ::ffff:127.0.0.1 matches a proxy listed as 127.0.0.1', async () => {
  const { app, visit, outcome } = await start({ trustedProxies: ['127.0.0.1'] }, '::');
  expect(await outcome(visit('p', '', { 'x-forwarded-for': '203.0.113.9' }))).toBe('open');
  expect(Object.fromEntries(app.perAddress)).toEqual({ '203.0.113.9': 1 });
});

it('reads a forwarded entry as an address: a port stripped, IPv6 keyed by its /64, a non-address falling back to the peer', async () => {
  const { app, visit, outcome } = await start({ trustedProxies: ['127.0.0.1'] });
  const keyOf = async (visitor: string, forwarded: string | string[]) => {
    const before = new Set(app.perAddress.keys());
    expect(await outcome(visit(visitor, '', { 'x-forwarded-for': forwarded }))).toBe('open');
    return [...app.perAddress.keys()].filter((key) => !before.has(key));
  };
  expect(await keyOf('a', '203.0.113.9:51234')).toEqual(['203.0.113.9']);
  expect(await keyOf('b', '[2001:DB8:0:0:1::1]:443')).toEqual(['2001:db8::/64']);
  expect(await keyOf('c', '2001:db8::2')).toEqual([]); // the same /64 as b
  expect(app.perAddress.get('2001:db8::/64')).toBe(2);
  expect(await keyOf('d', 'not-an-ip')).toEqual(['127.0.0.1']);
});

it('skips the proxies that are yours from the right, across two X-Forwarded-For headers', async () => {
  const { app, visit, outcome } = await start({ trustedProxies: ['127.0.0.1', '10.0.0.2'] });
  const forwarded = ['198.51.100.1', '203.0.113.9, 10.0.0.2'];
  expect(await outcome(visit('chain', '', { 'x-forwarded-for': forwarded }))).toBe('open');
  expect(Object.fromEntries(app.perAddress)).toEqual({ '203.0.113.9': 1 });
});
