/**
 * A tiny TCP round-robin load balancer for tests (node:net, bytes forwarded as
 * they come). As a Kubernetes Service does, it takes a backend out while its
 * readiness probe (GET /readyz) answers anything but 200, and puts it back when
 * it answers 200 again; a backend that refuses the TCP connect is skipped for
 * the next one. Connections already forwarded stay where they are: a backend
 * that stops closes its own.
 */
import net from 'node:net';
import { afterThisTest } from './test-scope.js';

export interface Backend {
  host: string;
  port: number;
}

export interface Balancer {
  /** ws://127.0.0.1:<port> of the balancer. */
  url: string;
  add(backend: Backend): void;
  remove(backend: Backend): void;
  /** The backends that passed their last probe. */
  ready(): Backend[];
  /** Connections forwarded to each backend ("host:port") so far. */
  forwarded(): Record<string, number>;
  /** Stops listening and probing, and destroys every forwarded connection. */
  close(): Promise<void>;
}

const keyOf = (backend: Backend) => `${backend.host}:${backend.port}`;

/** A backend of a `ws://host:port` URL. */
export function backendOf(url: string): Backend {
  const { hostname, port } = new URL(url);
  return { host: hostname, port: Number(port) };
}

export async function startBalancer(options: { probeEveryMs?: number } = {}): Promise<Balancer> {
  const probeEveryMs = options.probeEveryMs ?? 100;
  const backends = new Map<string, { backend: Backend; ready: boolean }>();
  const forwarded: Record<string, number> = {};
  const sockets = new Set<net.Socket>();
  let next = 0;
  let closed = false;

  const track = (socket: net.Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };

  const probe = async () => {
    await Promise.all(
      [...backends.values()].map(async (entry) => {
        let ready = false;
        try {
          const response = await fetch(`http://${keyOf(entry.backend)}/readyz`, {
            signal: AbortSignal.timeout(1_000),
          });
          await response.arrayBuffer();
          ready = response.status === 200;
        } catch {
          // Not answering: not ready.
        }
        if (backends.get(keyOf(entry.backend)) === entry) entry.ready = ready;
      }),
    );
  };
  let probing = Promise.resolve();
  const timer = setInterval(() => {
    probing = probing.then(probe);
  }, probeEveryMs);

  /** The ready backends, in round-robin order from the next one. */
  const rotation = () => {
    const ready = [...backends.values()].filter((e) => e.ready).map((e) => e.backend);
    if (ready.length === 0) return [];
    const start = next++ % ready.length;
    return [...ready.slice(start), ...ready.slice(0, start)];
  };

  const server = net.createServer((client) => {
    track(client);
    client.pause();
    client.on('error', () => {});
    const tryNext = (candidates: Backend[]) => {
      const backend = candidates.shift();
      if (backend === undefined || client.destroyed) {
        client.destroy();
        return;
      }
      const upstream = net.connect(backend.port, backend.host);
      track(upstream);
      let connected = false;
      upstream.once('connect', () => {
        connected = true;
        forwarded[keyOf(backend)] = (forwarded[keyOf(backend)] ?? 0) + 1;
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
      });
      upstream.on('error', () => {
        // Refused before it connected: the next backend; after, the client's connection ends.
        if (!connected) tryNext(candidates);
        else client.destroy();
      });
      upstream.once('close', () => {
        if (connected) client.end();
      });
      client.once('close', () => upstream.destroy());
    };
    tryNext(rotation());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;

  const balancer: Balancer = {
    url: `ws://127.0.0.1:${port}`,
    add(backend) {
      backends.set(keyOf(backend), { backend, ready: false });
    },
    remove(backend) {
      backends.delete(keyOf(backend));
    },
    ready: () => [...backends.values()].filter((e) => e.ready).map((e) => e.backend),
    forwarded: () => ({ ...forwarded }),
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await probing;
    },
  };
  afterThisTest(() => balancer.close());
  return balancer;
}
