/**
 * Slowloris: clients that take a connection and never finish with it.
 *
 * - Upgrade request headers trickled byte by byte, or never finished: node:http
 *   has not emitted `upgrade`, so the supervisor has not seen the request and
 *   holds nothing for it (no slot, no actor, no timer). What bounds the TCP
 *   connection is the HTTP server's own `headersTimeout` (Node's default:
 *   60 s, checked every `connectionsCheckingInterval`, 30 s by default),
 *   measured from the request's first byte however slowly the rest arrives;
 *   connectTimeoutMs only starts at admission. These tests give the server a
 *   short headersTimeout and check both halves.
 * - A frame header with its payload never sent: the connection is admitted
 *   and ws waits for the payload, during which the client cannot answer a
 *   ping (a pong would be read as payload). The heartbeat ends it: ping at one
 *   interval, terminated as a dead peer at the next.
 */
import { describe, expect, it } from 'vitest';
import {
  expectLeakFree,
  frameHeader,
  ioDeadlineMs,
  Opcode,
  serverFrames,
  startTarget,
  tcpClosed,
  within,
} from '../helpers/adversary.js';
import { rawConnect, rawWebSocket, readUntil, upgradeRequest } from '../helpers/cleanup.js';
import { nextEvent } from '../helpers/rules.js';

const headersTimeout = 300;
const http = { headersTimeout, requestTimeout: 2 * headersTimeout, connectionsCheckingInterval: 20 };
const heartbeatIntervalMs = 1_000;

describe('upgrade request headers that never finish', () => {
  it('trickled one byte at a time: never reach the supervisor, and the server answers 408 at headersTimeout', async () => {
    const t = await startTarget({ http });
    const socket = await rawConnect(t.port);
    // Long enough that, one byte every 5 ms, it would take seconds to finish.
    const request = Buffer.from(upgradeRequest('lori', { headers: { 'X-Pad': 'z'.repeat(1_000) } }));
    const answer = readUntil(socket, (bytes) => bytes.includes('\r\n\r\n'));
    const held: { connections: number; admitted: number }[] = [];
    let sent = 0;
    const trickle = setInterval(() => {
      const { connections, counters } = t.supervisor.stats();
      held.push({ connections, admitted: counters.admitted });
      if (sent < request.length && !socket.destroyed) socket.write(request.subarray(sent, ++sent));
    }, 5);
    try {
      const head = (await within(answer, 5_000, 'an answer to the unfinished request')).toString('latin1');
      expect(head).toMatch(/^HTTP\/1\.1 408 /);
      await within(tcpClosed(socket), ioDeadlineMs, 'the server to close the TCP connection');
    } finally {
      clearInterval(trickle);
    }
    expect(sent).toBeLessThan(request.length);
    expect(held.length).toBeGreaterThan(0);
    expect(held.every((sample) => sample.connections === 0 && sample.admitted === 0)).toBe(true);
    expect(t.events.rejected).toEqual([]);
    await expectLeakFree(t.supervisor);
  });

  it('every header sent but the final blank line: the same, with the user’s slots untouched', async () => {
    const t = await startTarget({ http });
    const socket = await rawConnect(t.port);
    const answer = readUntil(socket, (bytes) => bytes.includes('\r\n\r\n'));
    socket.write(upgradeRequest('lori').slice(0, -2));
    const head = (await within(answer, 5_000, 'an answer to the unfinished request')).toString('latin1');
    expect(head).toMatch(/^HTTP\/1\.1 408 /);
    await within(tcpClosed(socket), ioDeadlineMs, 'the server to close the TCP connection');
    expect(t.supervisor.stats().counters).toEqual({ admitted: 0, rejected: 0, evicted: 0, disposed: 0 });
    expect(t.supervisor.userStats('lori')).toBeUndefined();
    await expectLeakFree(t.supervisor);
  });
});

describe('a frame header whose payload never comes', () => {
  it('the client cannot answer pings meanwhile: terminated as a dead peer at the second heartbeat', async () => {
    const delivered: Buffer[] = [];
    const t = await startTarget({
      supervisor: {
        heartbeatIntervalMs,
        onMessage: (_connection, data) => {
          delivered.push(data);
        },
      },
    });
    const socket = await rawWebSocket(t.port, 'lori');
    const frames = serverFrames(socket);
    // 4 KiB announced (well under maxPayloadBytes), 100 bytes sent, the rest never.
    socket.write(Buffer.concat([frameHeader(Opcode.binary, 4_096), Buffer.alloc(100, 1)]));
    const disposed = nextEvent(t.supervisor, 'disposed');

    t.clock.increment(heartbeatIntervalMs);
    await within(frames.ping(), ioDeadlineMs, 'the server to ping');
    expect(t.supervisor.userStats('lori')).toMatchObject({ live: 1 });
    // What the client sends now is read as the rest of its payload, not as a pong.
    t.clock.increment(heartbeatIntervalMs);
    expect(await within(disposed, ioDeadlineMs, 'the stalled connection to be disposed')).toMatchObject({
      userId: 'lori',
      reason: 'dead-peer',
    });
    await within(tcpClosed(socket), ioDeadlineMs, 'the server to drop the TCP connection');
    expect(delivered).toEqual([]);
    await expectLeakFree(t.supervisor);
    expect(t.errors).toEqual([]);
  });
});
