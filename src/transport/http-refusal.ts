import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { withoutHints } from '../refusal-text.js';

/**
 * Answers an upgrade request with a plain HTTP error and closes the socket.
 * Used for every refusal, so a refused client never gets a WebSocket (and we
 * never allocate one). `headers` are added as given: they are ours, never the client's.
 * Returns whether the answer was written: false when the socket was already
 * gone (destroyed, or no longer writable), and nothing could be said.
 * The body is `message` as withoutHints() leaves it, then a newline: the words
 * a close frame's reason would carry (uncut), so curl, a proxy's log and the
 * client read the same line whichever way the refusal went.
 */
export function refuseUpgrade(
  socket: Duplex,
  status: number,
  message: string,
  headers: Readonly<Record<string, string>> = {},
): boolean {
  if (socket.destroyed) return false;
  if (!socket.writable) {
    socket.destroy();
    return false;
  }
  // Node's HTTP server removed its own error listener when it emitted
  // 'upgrade'; a reset while we answer must not become an uncaught error.
  // The socket is being discarded, and this listener with it.
  socket.on('error', () => {});
  const body = `${withoutHints(message)}\n`;
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
      'Connection: close\r\n' +
      'Content-Type: text/plain; charset=utf-8\r\n' +
      Object.entries(headers)
        .map(([name, value]) => `${name}: ${value}\r\n`)
        .join('') +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      `\r\n${body}`,
  );
  return true;
}
