/**
 * Raw inline commands to a Redis server: several in one write, so the server runs them back to
 * back with nothing of another client's between them (e.g. a subscriber killed, the slot given up
 * and the server paused, before the subscriber can reconnect).
 */
import { connect } from 'node:net';

/** Sends inline commands in one write, so the server runs them back to back; resolves at close. */
export function inline(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let reply = '';
    const socket = connect(port, '127.0.0.1', () => socket.end(text));
    socket.on('data', (chunk) => {
      reply += chunk.toString();
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(reply));
  });
}
