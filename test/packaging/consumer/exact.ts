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
await supervisor.shutdown({ deadlineMs: undefined, pace: undefined });
createClient({ url: 'ws://127.0.0.1:1/', protocols: undefined, backoff: { capMs: undefined } }).close();
