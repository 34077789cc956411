// The strictest consumer: `exactOptionalPropertyTypes` on top of tsconfig.json's flags, with
// skipLibCheck false. An optional property that the library accepts as undefined at run time
// must say `| undefined` in its type, or an app that forwards an optional value cannot compile.
import { type ConnectionHandle, createSupervisor, type SendOptions } from 'ws-supervisor';
import { createClient } from 'ws-supervisor/client';

// connection.send() reads `binary` as sendToUser() does: undefined is the default (text for a string).
export function forward(connection: ConnectionHandle, data: Buffer, binary: boolean | undefined): boolean {
  return connection.send(data, { binary });
}

// Options from the app's own config, where a value may be missing: the default applies.
declare const config: { idleTimeoutMs?: number | undefined; userLimitRetryMs?: number | undefined };

const options: SendOptions = { binary: undefined };
const supervisor = createSupervisor({
  authenticate: () => 'user',
  maxConnections: undefined,
  idleTimeoutMs: config.idleTimeoutMs,
  retryAfterMs: { 'user-limit': config.userLimitRetryMs },
  onMessage: (connection, data) => forward(connection, data, options.binary),
});
console.log(supervisor.sendToUser('user', 'hi', options));
// The rejected event is a union on `reason`: checking it types the fields that reason carries.
supervisor.on('rejected', (event) => {
  switch (event.reason) {
    case 'user-limit': {
      const limit: number = event.limit;
      const userId: string = event.userId;
      const live: number | undefined = event.live;
      const status: 429 | undefined = event.status;
      return console.log(limit, userId, live, status, event.retryAfterMs);
    }
    case 'rate-limited':
    case 'process-limit':
    case 'store-unavailable': {
      const userId: string = event.userId;
      const none: undefined = event.limit;
      return console.log(userId, none, event.retryAfterMs);
    }
    case 'refused': {
      const status: 401 | 403 | 429 | 503 | undefined = event.status;
      return console.log(status, event.retryAfterMs);
    }
    case 'socket-closed': {
      const nothing: [undefined, undefined] = [event.status, event.via];
      return console.log(nothing, event.userId);
    }
    default: {
      const noHint: number | undefined = event.retryAfterMs;
      return console.log(event.reason, event.status, event.userId, noHint);
    }
  }
});
await supervisor.shutdown({ deadlineMs: undefined, pace: undefined });
createClient({ url: 'ws://127.0.0.1:1/', protocols: undefined, backoff: { capMs: undefined } }).close();
