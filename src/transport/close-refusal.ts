/**
 * Refusals delivered as close frames (`refuse: 'close'`, issue 11, item 3).
 *
 * Each one is a refusal actor (machines/refusal.machine.ts) bound to one
 * socket: it completes the handshake with the supervisor's WebSocketServer,
 * sends close code 4000 + status with a readable reason, and ends when the
 * socket closes, or terminates it at `closeRefusalTimeoutMs`. Its timer is
 * the actor's delay on the supervisor's clock (counted in pendingTimers), its
 * listeners are counted with the connections' (socketListeners), and it
 * holds no slot. At most `maxCloseRefusals` are in flight: beyond that, and
 * once the supervisor has shut down, `refuse()` declines and the caller
 * answers over HTTP, which costs nothing after the answer is written.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, type WebSocketServer } from 'ws';
import { type Actor, createActor, type InspectionEvent, type Observer } from 'xstate';
import { type RefusalEvent, type RefusalTransport, refusalMachine } from '../../machines/refusal.machine.js';
import type { Clock } from '../clock.js';
import { AppHookError, SupervisorError } from '../errors.js';
import { createSafely } from '../safely.js';

export interface CloseRefusalsEnv {
  readonly wss: WebSocketServer;
  readonly clock: Clock;
  readonly inspect: { inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void) };
  readonly report: (error: SupervisorError) => void;
  readonly timeoutMs: number;
  readonly max: number;
  /** The supervisor's count of socket listeners it added (stats().resources.socketListeners). */
  readonly counter: { listeners: number };
}

const ignore = () => {};

/** One refused client's socket, before and after the handshake. */
class RefusedSocket implements RefusalTransport {
  #raw: Duplex | undefined;
  #request: IncomingMessage | undefined;
  #head: Buffer | undefined;
  #ws: WebSocket | undefined;
  #sink: ((event: RefusalEvent) => void) | undefined;
  readonly #closed = (code: number, reason: Buffer) =>
    this.#sink?.({ type: 'SOCKET_CLOSED', code, reason: reason.toString() });
  readonly #rawClosed = () => this.#sink?.({ type: 'SOCKET_CLOSED', code: 1006, reason: '' });
  readonly #errored = (error: Error) => this.#sink?.({ type: 'SOCKET_ERRORED', error });

  constructor(
    private readonly env: CloseRefusalsEnv,
    request: IncomingMessage,
    raw: Duplex,
    head: Buffer,
  ) {
    this.#request = request;
    this.#raw = raw;
    this.#head = head;
  }

  subscribe(sink: (event: RefusalEvent) => void): () => void {
    this.#sink = sink;
    // Before the handshake only the TCP socket exists; ws takes it over on open.
    this.#raw?.on('close', this.#rawClosed).on('error', this.#errored);
    this.env.counter.listeners += 2;
    return () => this.#release();
  }

  completeHandshake(): void {
    const request = this.#request;
    const raw = this.#raw;
    const head = this.#head;
    this.#request = undefined;
    this.#head = undefined;
    if (request === undefined || raw === undefined || head === undefined) return;
    try {
      this.env.wss.handleUpgrade(request, raw, head, (ws) => this.#opened(ws));
    } catch (error) {
      // A hook of the app's own server (verifyClient, handleProtocols, a `headers`
      // listener) threw: the app's failure, not ours, and no close frame can
      // follow, so the socket is let go now rather than at closeRefusalTimeoutMs.
      this.env.report(new AppHookError('webSocketServer.handleUpgrade', error));
      this.#sink?.({
        type: 'SOCKET_ERRORED',
        error: error instanceof Error ? error : new Error(String(error)),
      });
    }
  }

  #opened(ws: WebSocket): void {
    this.#unbindRaw();
    this.#ws = ws;
    if (this.#sink === undefined) {
      ws.terminate(); // the actor is gone (an async verifyClient answered late): nobody owns it
      return;
    }
    ws.on('close', this.#closed).on('error', this.#errored);
    this.env.counter.listeners += 2;
    this.#sink({ type: 'SOCKET_OPENED' });
  }

  sendCloseFrame(code: number, reason: string): void {
    this.#ws?.close(code, reason);
  }

  terminateSocket(): void {
    if (this.#ws !== undefined) this.#ws.terminate();
    else this.#raw?.destroy();
  }

  #unbindRaw(): void {
    if (this.#raw === undefined) return;
    this.#raw.off('close', this.#rawClosed).off('error', this.#errored);
    this.#raw = undefined;
    this.env.counter.listeners -= 2;
  }

  /** The undo of subscribe: whatever ended the actor, nothing of this socket is left. */
  #release(): void {
    this.#sink = undefined;
    const raw = this.#raw;
    this.#unbindRaw();
    if (raw !== undefined && !raw.destroyed) raw.destroy();
    const ws = this.#ws;
    if (ws !== undefined) {
      ws.off('close', this.#closed).off('error', this.#errored);
      this.env.counter.listeners -= 2;
      ws.on('error', ignore); // ws may still report bytes it had buffered
      if (ws.readyState !== WebSocket.CLOSED) ws.terminate();
      this.#ws = undefined;
    }
  }
}

const socketOf = (context: { transport: RefusalTransport }) => context.transport as RefusedSocket;

/** The refusals in flight of one supervisor. */
export class CloseRefusals {
  readonly #actors = new Set<Actor<typeof refusalMachine>>();
  readonly #machine: typeof refusalMachine;
  #closed = false;

  constructor(private readonly env: CloseRefusalsEnv) {
    const safely = createSafely(env.report);
    this.#machine = refusalMachine.provide({
      actions: {
        completeHandshake: safely('completeHandshake', ({ context }) =>
          socketOf(context).completeHandshake(),
        ),
        sendCloseFrame: safely('sendCloseFrame', ({ context }, params: { code: number; reason: string }) =>
          socketOf(context).sendCloseFrame(params.code, params.reason),
        ),
        terminateSocket: safely('terminateSocket', ({ context }) => socketOf(context).terminateSocket()),
      },
    });
  }

  /** Refusals upgraded and not yet closed. */
  get inFlight(): number {
    return this.#actors.size;
  }

  /**
   * Refuses with a close frame. Returns false, having touched nothing, when
   * the cap is reached or the supervisor has shut down: answer over HTTP then.
   */
  refuse(request: IncomingMessage, socket: Duplex, head: Buffer, code: number, reason: string): boolean {
    if (this.#closed || this.#actors.size >= this.env.max) return false;
    const actor = createActor(this.#machine, {
      input: {
        transport: new RefusedSocket(this.env, request, socket, head),
        code,
        reason,
        timeoutMs: this.env.timeoutMs,
      },
      clock: this.env.clock,
      ...this.env.inspect,
    });
    this.#actors.add(actor);
    actor.subscribe({
      complete: () => this.#actors.delete(actor),
      error: (error) => {
        this.#actors.delete(actor);
        this.env.report(
          new SupervisorError('WSSUP_INTERNAL', 'a close-frame refusal failed', { cause: error }),
        );
      },
    });
    actor.start();
    return true;
  }

  /** From now on refuse over HTTP, and end every refusal in flight (their sockets terminated). Idempotent. */
  close(): void {
    this.#closed = true;
    for (const actor of [...this.#actors]) actor.send({ type: 'TERMINATE' });
  }
}
