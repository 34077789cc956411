/**
 * `connection.instance`: the client instance id a connection's client sent (`wssup-instance`,
 * which ws-supervisor/client sends on every attempt), read-only on the handle, for state kept
 * per tab across reconnects. A real server on port 0; a real createClient in Node, on a
 * simulated clock for its backoff, reconnecting after the server drops its socket; a bare ws
 * client that sends no id.
 */
import { describe, expect, it } from 'vitest';
import type { ConnectionHandle } from '../../src/index.js';
import { startClient } from '../client/helpers.js';
import { allDisposed, connect, expectNoLeaks, startServer } from '../helpers/server.js';

describe('connection.instance', () => {
  it("is the client's instance id, the same on the connection of a reconnect", async () => {
    const opened: ConnectionHandle[] = [];
    const t = await startServer({ onOpen: (connection) => void opened.push(connection) });
    const c = startClient({ url: t.url('ann') });
    const id = c.client.instance;
    expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/);

    await c.next('open', 0);
    await expect.poll(() => opened.length).toBe(1);
    const first = opened[0] as ConnectionHandle;
    expect(first.instance).toBe(id);

    // The network drops the connection (1006 for the client): it reconnects after its backoff.
    const from = c.mark();
    first.socket?.terminate();
    const { delayMs } = await c.next('reconnecting', from);
    c.simulated.increment(delayMs);
    await c.next('open', from);
    await expect.poll(() => opened.length).toBe(2);
    const second = opened[1] as ConnectionHandle;
    expect(second.id).not.toBe(first.id);
    expect(second.instance).toBe(id);
    expect(t.supervisor.connectionsOf('ann').map(({ instance }) => instance)).toEqual([id]);
    // The disposed connection's handle still says whose it was (onClose keys its state by it).
    expect(first.instance).toBe(id);
    // Read-only, as the handle's other fields are.
    expect(() => {
      (first as { instance: string | undefined }).instance = 'x';
    }).toThrow(TypeError);

    c.client.close();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });

  it('is undefined for a client that sent none', async () => {
    const opened: ConnectionHandle[] = [];
    const t = await startServer({ onOpen: (connection) => void opened.push(connection) });
    const ws = await connect(t.url('bea'));
    await expect.poll(() => opened.length).toBe(1);
    expect(opened[0]?.instance).toBeUndefined();
    expect('instance' in (opened[0] as object)).toBe(true);
    ws.close();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });

  it('with supersede: false, is still read (and replaces nothing); a malformed one is none, not refused', async () => {
    const opened: ConnectionHandle[] = [];
    const t = await startServer({ supersede: false, onOpen: (connection) => void opened.push(connection) });
    const id = 'tab-aaaaaaaaaaaaaaaa';
    const a = await connect(`${t.url('cy')}&wssup-instance=${id}.1`);
    const b = await connect(`${t.url('cy')}&wssup-instance=${id}.2`);
    const c = await connect(`${t.url('cy')}&wssup-instance=short`);
    await expect.poll(() => opened.length).toBe(3);
    expect(opened.map(({ instance }) => instance)).toEqual([id, id, undefined]);
    expect(t.supervisor.userStats('cy')).toMatchObject({ live: 3 });
    for (const ws of [a, b, c]) ws.close();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });
});
