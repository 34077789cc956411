/**
 * A supervisor wired to the in-memory transport, configured like the
 * reference server (demo authentication by ?user=<id>, echo of every
 * message), for the soak, the admission and the scale benchmarks.
 */
import { createSupervisor, type Supervisor, type SupervisorOptions } from '../src/index.js';
import { MemoryPeer, MemoryWebSocketServer, type PeerBehaviour } from './memory-transport.js';

export interface MemorySupervisor {
  supervisor: Supervisor;
  /** Sends an upgrade request for `userId`; resolves with its peer once admitted or refused. */
  connect(userId: string, behaviour?: PeerBehaviour): Promise<MemoryPeer>;
}

const userFromQuery = (request: { url?: string | undefined }) =>
  new URLSearchParams((request.url ?? '').split('?')[1] ?? '').get('user');

const noHead = Buffer.alloc(0);

export function createMemorySupervisor(options: Partial<SupervisorOptions> = {}): MemorySupervisor {
  const supervisor = createSupervisor({
    authenticate: userFromQuery,
    onMessage: (connection, data, isBinary) => {
      // `bye` asks the server to close: the app-close path of the soak.
      if (data.length === 3 && data.toString() === 'bye') connection.close(4000, 'bye');
      else connection.send(data, { binary: isBinary });
    },
    ...options,
    webSocketServer: new MemoryWebSocketServer(),
  });
  return {
    supervisor,
    async connect(userId, behaviour) {
      const peer = new MemoryPeer(userId, behaviour);
      await supervisor.handleUpgrade(peer.request, peer.raw as never, noHead);
      return peer;
    },
  };
}
