/**
 * What the bare server needs of the library's upgrade handling, copied here
 * so that the baseline uses nothing but the public API: src/ is internal and
 * may change shape (issue 10). Keep these in step with
 * src/transport/http-refusal.ts and src/user-id.ts, so that the bare server
 * refuses exactly what the supervised one refuses, the same way.
 */
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { MAX_USER_ID_LENGTH } from '../src/index.js';

/** A plain HTTP error on the upgrade's socket, then close: no WebSocket is ever allocated. */
export function refuseUpgrade(socket: Duplex, status: number, message: string): void {
  if (socket.destroyed) return;
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.on('error', () => {});
  const body = `${message}\n`;
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
      'Connection: close\r\n' +
      'Content-Type: text/plain; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      `\r\n${body}`,
  );
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/;

/** Why `userId` is unusable, or undefined when it is fine (the library's rule). */
export function checkUserId(userId: string): string | undefined {
  if (userId.length === 0) return 'user id is empty';
  if (userId.length > MAX_USER_ID_LENGTH) return `user id is longer than ${MAX_USER_ID_LENGTH} characters`;
  if (CONTROL_CHARACTERS.test(userId)) return 'user id contains control characters';
  return undefined;
}
