/**
 * The arguments of `handleUpgrade(request, socket, head)`, checked before
 * anything reads them. An app routing upgrades itself can pass them in the
 * wrong order or drop one; that slip used to surface as a TypeError deep in
 * the upgrade path, reported as WSSUP_INTERNAL ("a bug in ws-supervisor"),
 * and then as a rejection of the promise handleUpgrade() promises never to
 * reject. It is the caller's mistake, and is said so (WSSUP_INVALID_ARGUMENT).
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { describeValue, SupervisorError } from './errors.js';

const hasMethods = (value: unknown, names: readonly string[]): boolean =>
  typeof value === 'object' &&
  value !== null &&
  names.every((name) => typeof (value as Record<string, unknown>)[name] === 'function');

/**
 * Shapes, not classes: any Duplex will do (a TLS socket, a test's stream). An
 * IncomingMessage is a Readable, so `end` (the answer to a refusal) is what tells a swapped pair apart.
 */
const isSocket = (value: unknown): value is Duplex => hasMethods(value, ['end', 'destroy', 'on', 'off']);

const isRequest = (value: unknown): value is IncomingMessage =>
  typeof value === 'object' &&
  value !== null &&
  typeof (value as { headers?: unknown }).headers === 'object' &&
  (value as { headers?: unknown }).headers !== null;

/**
 * The error for a `request` or `socket` that is not one, or undefined when
 * both are usable. (`head` is checked later, once the socket can be answered.)
 */
export function upgradeArgumentsError(request: unknown, socket: unknown): SupervisorError | undefined {
  const problem = !isSocket(socket)
    ? `socket must be the Duplex of Node's 'upgrade' event, got ${describeValue(socket)}`
    : !isRequest(request)
      ? `request must be the IncomingMessage of Node's 'upgrade' event, got ${describeValue(request)}`
      : undefined;
  if (problem === undefined) return undefined;
  return new SupervisorError('WSSUP_INVALID_ARGUMENT', `handleUpgrade(request, socket, head): ${problem}`);
}

/**
 * Closes the client's connection after such a slip: nothing can be answered
 * on what is not a socket, and a client left waiting would hold its TCP
 * connection (Node sets no timeout on an upgraded socket). Whichever argument
 * is a stream is destroyed; destroying an upgrade's request destroys its socket.
 */
export function dropUnusableUpgrade(request: unknown, socket: unknown): void {
  for (const stream of [socket, request]) {
    if (!hasMethods(stream, ['destroy'])) continue;
    try {
      (stream as { destroy(): void }).destroy();
    } catch {
      // Not ours to fix: the error above already names the slip.
    }
  }
}
