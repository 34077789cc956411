/**
 * The user supervisor with a fake socket under each connection, for the
 * machine tests of the layers above it (shard, hub): its announcements go to
 * `log`, and an admission whose connection id starts with `boom` stands for
 * a bug in the runtime (the supervisor actor fails).
 */
import { type ConnectionEvent, connectionMachine, userSupervisorMachine } from '../../machines/index.js';
import { asFake } from './fake-transport.js';

/** Timers that never fire in these tests, but the handshake's. */
export const timings = {
  connectTimeoutMs: 100,
  idleTimeoutMs: 1_000_000_000,
  heartbeatIntervalMs: 1_000_000_000,
  drainTimeoutMs: 10_000,
};

export const closed: ConnectionEvent = { type: 'SOCKET_CLOSED', code: 1000, reason: '' };

export function loggedUserSupervisor(log: string[]) {
  const connection = connectionMachine.provide({
    actions: {
      abortHandshake: ({ context }) => void asFake(context).did.push('abort'),
      closeSocket: ({ context }, { code }) => void asFake(context).did.push(`close ${code}`),
      terminateSocket: ({ context }) => void asFake(context).did.push('terminate'),
    },
  });
  return userSupervisorMachine.provide({
    actors: { connection },
    actions: {
      announceAdmitted: (_, { connectionId }) => {
        if (connectionId.startsWith('boom')) throw new Error('bug in announceAdmitted');
        log.push(`admitted ${connectionId}`);
      },
      announceRejected: (_, { connectionId, reason }) => void log.push(`rejected ${connectionId} ${reason}`),
      announceDisposed: (_, { connectionId, reason }) => void log.push(`disposed ${connectionId} ${reason}`),
    },
  });
}
