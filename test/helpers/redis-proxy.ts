/**
 * A TCP proxy in front of a private redis-server, for the cluster tests that
 * cut or slow one process's link to Redis while Redis itself stays up
 * (test/cluster/outage.test.ts, test/adversarial/cluster-chaos.heavy.test.ts).
 */
import { once } from 'node:events';
import { createServer, type Server, Socket } from 'node:net';
import { onTestFinished } from 'vitest';

export interface RedisProxy {
  /** The proxy's port, on 127.0.0.1. */
  readonly port: number;
  /** `redis://127.0.0.1:<port>`. */
  readonly url: string;
  /** Discards every byte both ways while on (a partition: the sockets stay open and silent). */
  drop(on?: boolean): void;
  /** Resets the connections that lived through a partition, and forwards again. */
  heal(): void;
  /**
   * Sends new connections to another Redis and resets the ones open now (a failover
   * behind one address, as Sentinel-aware proxies or a moved DNS name do).
   */
  switchTo(port: number): void;
  /** Holds Redis's replies back `ms` (0: none), in order: Redis has run the commands already. */
  delayReplies(ms: number): void;
  /** Opens each new connection to Redis `ms` late (a slow handshake, as over TLS far away). */
  delayConnections(ms: number): void;
  /**
   * While on, each new connection is accepted but not opened to Redis: what the client sends
   * waits (its handshake, TLS's included, is held). Off opens the ones held, in order.
   */
  hold(on?: boolean): void;
  /** How many connections hold() holds now. */
  held(): number;
  /** How many client connections the proxy has open now (held ones included). */
  open(): number;
}

/**
 * A TCP proxy to Redis that can silently drop every byte in both directions
 * (a partition: nothing is refused, nothing answers), and heal. Healing resets
 * the connections that lived through the partition, as an expired NAT entry or
 * TCP keepalive does: a reply dropped on a connection that carries on would
 * leave its commands unanswered forever (see the store's `overdue` rule).
 */
export async function startRedisProxy(redisPort: number): Promise<RedisProxy> {
  let target = redisPort;
  let dropping = false;
  let replyDelayMs = 0;
  let connectDelayMs = 0;
  let holding = false;
  const heldOpens: Array<() => void> = [];
  const sockets = new Set<Socket>();
  const clients = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = new Socket();
    // What the client sends before Redis is reached waits here, in order.
    let early: Buffer[] | undefined = [];
    const open = () =>
      upstream.connect(target, '127.0.0.1', () => {
        for (const chunk of early ?? []) upstream.write(chunk);
        early = undefined;
      });
    if (holding) heldOpens.push(open);
    else if (connectDelayMs > 0) setTimeout(open, connectDelayMs);
    else open();
    sockets.add(client).add(upstream);
    clients.add(client);
    const forward = (to: Socket) => (chunk: Buffer) => {
      if (dropping) return;
      if (early !== undefined) early.push(chunk);
      else to.write(chunk);
    };
    // Replies keep their order: each waits for the one before it, then for its own delay.
    let replies = Promise.resolve();
    const reply = (chunk: Buffer) => {
      if (dropping) return;
      const due = Date.now() + replyDelayMs;
      replies = replies.then(async () => {
        const wait = due - Date.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        // A reply held back when the partition began is lost with it.
        if (!client.destroyed && !dropping) client.write(chunk);
      });
    };
    client.on('data', forward(upstream));
    upstream.on('data', reply);
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
      clients.delete(client);
      const at = heldOpens.indexOf(open);
      if (at !== -1) heldOpens.splice(at, 1);
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  onTestFinished(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  const port = (server.address() as { port: number }).port;
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    drop: (on = true) => {
      dropping = on;
    },
    heal: () => {
      for (const socket of sockets) socket.destroy();
      dropping = false;
    },
    switchTo: (port) => {
      target = port;
      for (const socket of sockets) socket.destroy();
    },
    delayReplies: (ms) => {
      replyDelayMs = ms;
    },
    delayConnections: (ms) => {
      connectDelayMs = ms;
    },
    hold: (on = true) => {
      holding = on;
      if (!on) for (const open of heldOpens.splice(0)) open();
    },
    held: () => heldOpens.length,
    open: () => clients.size,
  };
}
