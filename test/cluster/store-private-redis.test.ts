/**
 * The private redis-server the cluster tests run against (test/helpers/redis-server.ts):
 * it answers on its own port, the outage helpers do what they say, and
 * stop() leaves no process behind.
 */
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { findRedisServer, redisServerHint, startRedisServer } from '../helpers/redis-server.js';
import { requireExternal } from '../helpers/requirements.js';

const hasRedis = requireExternal('redis-server', findRedisServer() !== undefined, redisServerHint());

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Resolves true when a TCP connection to the port is accepted, false when refused. */
const accepts = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });

describe.runIf(hasRedis)('private redis-server', () => {
  it('runs on a port of its own, without persistence, and stop() leaves nothing behind', async () => {
    const redis = await startRedisServer();
    try {
      expect(redis.port).not.toBe(6379);
      expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}`);
      expect(await redis.command('CONFIG', 'GET', 'save')).toEqual(['save', '']);
      expect(await redis.command('CONFIG', 'GET', 'appendonly')).toEqual(['appendonly', 'no']);
      expect(await redis.command('SET', 'k', 'v')).toBe('OK');
      expect(await redis.command('GET', 'k')).toBe('v');
    } finally {
      await redis.stop();
    }
    expect(isAlive(redis.pid)).toBe(false);
    expect(await accepts(redis.port)).toBe(false);
    await redis.stop(); // idempotent
  });

  it('pause() silences it until resume(); kill() and restart() give an empty server on the same port', async () => {
    const redis = await startRedisServer();
    try {
      await redis.command('SET', 'k', 'v');
      await redis.pause();
      await expect(redis.command('PING')).rejects.toThrow(/no reply/);
      redis.resume();
      expect(await redis.command('PING')).toBe('PONG');

      const before = redis.pid;
      await redis.kill();
      expect(isAlive(before)).toBe(false);
      expect(await accepts(redis.port)).toBe(false);
      await redis.restart();
      expect(redis.pid).not.toBe(before);
      expect(await redis.command('GET', 'k')).toBeNull();
    } finally {
      await redis.stop();
    }
  });
});

describe('findRedisServer', () => {
  it('takes REDIS_SERVER_PATH when set, and reports a missing one as not found', () => {
    expect(findRedisServer({ REDIS_SERVER_PATH: '/nonexistent/redis-server', PATH: '/usr/bin:/bin' })).toBe(
      undefined,
    );
    expect(findRedisServer({ PATH: '/nonexistent' })).toBeUndefined();
    expect(findRedisServer({ REDIS_SERVER_PATH: process.execPath })).toBe(process.execPath);
  });
});
