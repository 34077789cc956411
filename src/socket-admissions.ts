/**
 * Which connection a supervisor admitted on a given TCP socket, for ws-supervisor/testing's
 * serveForTest(): its open() tells a test the connection id and user id of the client it
 * opened, read from the admission itself (the server's end of that client's TCP connection),
 * not guessed from the order of `admitted` events, which several clients opened at once (or an
 * async authenticate) can swap. Not public API.
 *
 * Off until asked: a supervisor records nothing until serveForTest() calls
 * `supervisor[SOCKET_ADMISSIONS]()`, so an app in production pays nothing for it.
 */
import type { Duplex } from 'node:stream';

/**
 * Where a supervisor keeps the function that turns the record on and returns its lookup.
 * Not enumerable, not in the Supervisor type. Symbol.for: every copy of the package reads it.
 */
export const SOCKET_ADMISSIONS: unique symbol = Symbol.for('ws-supervisor.socketAdmissions');

/** The admission made on one socket: ids only, so that the record holds no handle nor app data. */
export interface SocketAdmission {
  readonly connectionId: string;
  readonly userId: string;
}

/** The admission made on the server's end of a TCP connection, if this supervisor made one. */
export type SocketAdmissionLookup = (socket: object) => SocketAdmission | undefined;

/** The record of one supervisor: weak, so an entry goes with its socket. */
export class SocketAdmissions {
  #bySocket: WeakMap<object, SocketAdmission> | undefined;

  /** Called at each admission (upgrade.ts): a no-op until `start()`. */
  admitted(socket: Duplex, connectionId: string, userId: string): void {
    this.#bySocket?.set(socket, { connectionId, userId });
  }

  /** Turns the record on (admissions from now on), idempotent; returns its lookup. */
  start(): SocketAdmissionLookup {
    this.#bySocket ??= new WeakMap();
    const bySocket = this.#bySocket;
    return (socket) => bySocket.get(socket);
  }
}
