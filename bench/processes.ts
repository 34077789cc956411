/** Forks the bench's server and client processes and talks to them over IPC. */
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { Protocol } from './raw-client.js';

export interface Child {
  process: ChildProcess;
  /** Sends `message` and resolves with the next reply that has the field `field`. */
  ask<T>(message: unknown, field: string): Promise<T>;
  stop(): Promise<void>;
}

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));

function wrap(child: ChildProcess): Child {
  const waiting: { field: string; resolve: (value: never) => void }[] = [];
  child.on('message', (message: Record<string, unknown>) => {
    const index = waiting.findIndex(({ field }) => field in message);
    if (index < 0) return;
    const [{ field, resolve }] = waiting.splice(index, 1) as [(typeof waiting)[number]];
    resolve(message[field] as never);
  });
  const ask = <T>(message: unknown, field: string) =>
    new Promise<T>((resolve, reject) => {
      waiting.push({ field, resolve: resolve as (value: never) => void });
      child.send(message as object, (error) => {
        if (error) reject(error);
      });
    });
  return {
    process: child,
    ask,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      if (child.connected) child.send({ cmd: 'exit' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

async function start(file: string, args: string[], execArgv: string[]): Promise<Child> {
  const child = fork(here(file), args, { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const wrapped = wrap(child);
  const [message] = (await once(child, 'message')) as [{ ready?: boolean; port?: number }];
  if (message.ready !== true) throw new Error(`${file} did not start`);
  return Object.assign(wrapped, { port: message.port ?? 0 });
}

export interface ServerChild extends Child {
  port: number;
}

/**
 * supervised: the reference server; bare: the same work on bare ws; actor:
 * bare ws plus one small XState actor per connection (the floor of "an actor
 * per connection", with real sockets); socketio: the same work on Socket.IO
 * 4.8, websocket transport only, with a per-user limit in a middleware.
 */
export const serverKinds = ['supervised', 'bare', 'actor', 'socketio'] as const;
export type ServerKind = (typeof serverKinds)[number];

/** How the load clients speak to a kind. */
export const protocolOf = (kind: ServerKind): Protocol => (kind === 'socketio' ? 'socketio' : 'ws');

export async function startServer(kind: ServerKind, extra: string[] = []): Promise<ServerChild> {
  // e.g. BENCH_SERVER_NODE_OPTIONS="--cpu-prof --cpu-prof-dir=prof" to profile the servers.
  const flags = (process.env.BENCH_SERVER_NODE_OPTIONS ?? '').split(' ').filter((flag) => flag !== '');
  return (await start(
    './server-host.js',
    ['--kind', kind, ...extra],
    ['--expose-gc', ...flags],
  )) as ServerChild;
}

export async function startClient(): Promise<Child> {
  const client = await start('./load-client.js', [], []);
  // A client's exit message is 'release' + disconnect: it has no server to close.
  client.stop = async () => {
    if (client.process.exitCode !== null) return;
    const exited = once(client.process, 'exit');
    client.process.kill('SIGTERM');
    await exited;
  };
  return client;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
