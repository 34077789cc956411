/**
 * Ops trial: the reference server closed every connection at once on SIGTERM, with no way to
 * pace it. `--shutdown-pace-ms <ms>` (WSSUP_SHUTDOWN_PACE_MS) closes them in 10 batches over
 * that window, and each 1001 carries the batch interval for the client helper; a bad value is
 * refused at start, never found at SIGTERM (which would leave the process serving).
 */
import { once } from 'node:events';
import { describe, expect, it, onTestFinished } from 'vitest';
import WebSocket from 'ws';
import { ConfigError } from '../../examples/reference-server/command-line.js';
import { readConfig, type ServerConfig } from '../../examples/reference-server/config.js';
import { startReferenceServer } from '../../examples/reference-server/server.js';

const limits = { preset: 'test', idleTimeoutMs: 600_000, heartbeatIntervalMs: 600_000 } as const;

/** The 1001 each of `users`' clients gets when the server (with `config`) closes. */
async function closesOnStop(config: Partial<ServerConfig>, users: string[]) {
  const server = await startReferenceServer({ host: '127.0.0.1', port: 0, limits, ...config }, () => {});
  onTestFinished(() => server.close());
  const sockets = await Promise.all(
    users.map(async (user) => {
      const ws = new WebSocket(`ws://127.0.0.1:${server.port}/?user=${user}`);
      onTestFinished(() => ws.terminate());
      await once(ws, 'open');
      return ws;
    }),
  );
  const closes = sockets.map(async (ws) => {
    const [code, reason] = (await once(ws, 'close')) as [number, Buffer];
    return `${code} ${reason.toString()}`;
  });
  await server.close();
  return Promise.all(closes);
}

describe('--shutdown-pace-ms', () => {
  it('paces the shutdown: from a 10 s window on, each 1001 carries the batch interval (window / 10)', async () => {
    const config = readConfig(['--shutdown-pace-ms', '10000'], {}) as ServerConfig;
    expect(config.shutdownPaceMs).toBe(10_000);
    // Two connections: one in each of the first two batches, the second 1 s in (real time).
    expect(await closesOnStop(config, ['ann', 'bob'])).toEqual([
      '1001 server shutting down reconnect-within-ms=1000',
      '1001 server shutting down reconnect-within-ms=1000',
    ]);
  });

  it('a window shorter than the client’s default 10 s paces the closes but sends no hint', async () => {
    // Review: a hint of 100 ms (floored to 1 s by the client) over a 1 s window made the
    // returns more bunched than an unpaced shutdown's; the client's own 10 s window applies.
    const config = readConfig(['--shutdown-pace-ms', '1000'], {}) as ServerConfig;
    expect(await closesOnStop(config, ['ann', 'bob'])).toEqual([
      '1001 server shutting down',
      '1001 server shutting down',
    ]);
  });

  it('without it (or with 0), closes everything at once, as before', async () => {
    expect(await closesOnStop({}, ['cat'])).toEqual(['1001 server shutting down']);
    expect(readConfig(['--shutdown-pace-ms', '0'], {})).toEqual(readConfig([], {}));
  });

  it.each([
    ['-1', /^--shutdown-pace-ms must be an integer from 0 to 2147483647, got "-1"$/],
    ['2147483648', /^--shutdown-pace-ms must be an integer from 0 to 2147483647, got "2147483648"$/],
    ['1.5', /^--shutdown-pace-ms must be an integer from 0 to 2147483647, got "1\.5"$/],
    ['1e3', /^--shutdown-pace-ms must be an integer in decimal digits, got "1e3"$/],
  ])('refuses %s at start', (value, message) => {
    expect(() => readConfig(['--shutdown-pace-ms', value], {})).toThrow(ConfigError);
    expect(() => readConfig(['--shutdown-pace-ms', value], {})).toThrow(message);
    expect(() => readConfig([], { WSSUP_SHUTDOWN_PACE_MS: value })).toThrow(
      /^WSSUP_SHUTDOWN_PACE_MS \(--shutdown-pace-ms\) must be an integer/,
    );
  });

  it('is refused by startReferenceServer too, for a config built in code, before anything starts', async () => {
    await expect(
      startReferenceServer({ host: '127.0.0.1', port: 0, limits, shutdownPaceMs: -5 }, () => {}),
    ).rejects.toThrow(/^--shutdown-pace-ms must be an integer from 0 to 2147483647, got -5$/);
  });
});
