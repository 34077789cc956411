/**
 * A private redis-server for the cluster benchmarks: a free loopback port, a
 * temporary directory, no persistence; never the shared one on 6379.
 * REDIS_SERVER_PATH names the binary (default: redis-server on PATH).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface PrivateRedis {
  url: string;
  /** The server's process id (its scheduler figures are read from /proc). */
  pid: number;
  stop(): void;
  /** Kills it and starts it again on the same port, empty (a restart without persistence). */
  restart(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'wssup-bench-redis-'));
  let child = await spawnRedis(port, dir);
  return {
    url: `redis://127.0.0.1:${port}`,
    get pid() {
      return child.pid ?? 0;
    },
    stop: () => {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
    restart: async () => {
      child.kill('SIGKILL');
      if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
      child = await spawnRedis(port, dir);
    },
  };
}

/** A redis-server on `port`, resolved once it accepts connections. */
async function spawnRedis(port: number, dir: string): Promise<ChildProcess> {
  const child = spawn(
    process.env.REDIS_SERVER_PATH || 'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let text = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      if (/Ready to accept connections/.test(text)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${text}`)));
    child.once('error', reject);
  });
  return child;
}
