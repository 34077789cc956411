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
 *
 * `adopt()` takes over an admitted handshake that its connection aborted
 * before it opened (shutdown, an eviction, the connect timeout), so that it
 * is refused as a new request would be, or that the app closed (its own code
 * and reason are sent). Often ws is completing that
 * handshake already (the app's asynchronous `verifyClient`), and a second
 * `handleUpgrade()` on the socket is not possible: the refusal then waits for
 * the socket ws opens, and if the refusal ends first (closeRefusalTimeoutMs,
 * the end of shutdown) it answers over HTTP what the connection would have.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { type Actor, createActor, type InspectionEvent, type Observer } from 'xstate';
import { type RefusalEvent, type RefusalTransport, refusalMachine } from '../../machines/refusal.machine.js';
import type { Clock } from '../clock.js';
import { AppHookError, SupervisorError } from '../errors.js';
import { createSafely } from '../safely.js';
import { refuseUpgrade } from './http-refusal.js';
import { WebSocket, type WebSocketServer } from './ws-peer.js';

/** The HTTP answer of a refusal that could not be upgraded: status, body, headers. */
export interface HttpAnswer {
  readonly status: number;
  readonly message: string;
  readonly headers: Readonly<Record<string, string>>;
}

/** A handshake ws has not been asked to complete yet: the refusal completes it. */
interface Handshake {
  readonly request: IncomingMessage;
  readonly head: Buffer;
}

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

/**
 * What a refused client may send after its handshake before it is let go: its
 * own close frame (at most 131 bytes), a pong or two, and a first message sent
 * on open before it read the close frame. ws buffers a frame until it is
 * complete, up to maxPayloadBytes: without this bound every refusal in flight
 * (often of a client that is not even authenticated) could hold that much, and
 * maxCloseRefusals of them a gigabyte, until closeRefusalTimeoutMs. Past it the
 * socket is terminated, as for a socket error: the close frame went first.
 */
export const MAX_REFUSED_INBOUND_BYTES = 4096;

/** One refused client's socket, before and after the handshake. */
class RefusedSocket implements RefusalTransport {
  #raw: Duplex | undefined;
  #request: IncomingMessage | undefined;
  #head: Buffer | undefined;
  #ws: WebSocket | undefined;
  #sink: ((event: RefusalEvent) => void) | undefined;
  /** Whether our listeners are on #raw, on #ws (each counted in counter.listeners). */
  #rawBound = false;
  #wsBound = false;
  /** The TCP socket under ws once it opened, watched for what the peer sends (MAX_REFUSED_INBOUND_BYTES). */
  #tcp: Duplex | undefined;
  #tcpBound = false;
  /** Bytes the peer has sent since the request: the head that came with it, then every chunk ws reads. */
  #inbound = 0;
  /** Set once the actor has let go: a socket ws opens later is terminated. */
  #released = false;
  readonly #closed = (code: number, reason: Buffer) =>
    this.#sink?.({ type: 'SOCKET_CLOSED', code, reason: reason.toString() });
  readonly #rawClosed = () => this.#sink?.({ type: 'SOCKET_CLOSED', code: 1006, reason: '' });
  readonly #errored = (error: Error) => this.#sink?.({ type: 'SOCKET_ERRORED', error });
  readonly #received = (chunk: Buffer) => {
    this.#inbound += chunk.length;
    if (this.#inbound > MAX_REFUSED_INBOUND_BYTES) this.#overflowed();
  };

  /**
   * @param handshake undefined when ws is completing the handshake already (adopt()):
   *   completeHandshake() then does nothing and the socket comes through opened().
   * @param fallback what to answer over HTTP when the refusal ends before the socket opened.
   */
  constructor(
    private readonly env: CloseRefusalsEnv,
    raw: Duplex,
    handshake: Handshake | undefined,
    private readonly fallback: HttpAnswer | undefined,
  ) {
    this.#request = handshake?.request;
    this.#raw = raw;
    this.#head = handshake?.head;
    this.#inbound = handshake?.head.length ?? 0;
  }

  subscribe(sink: (event: RefusalEvent) => void): () => void {
    this.#sink = sink;
    if (this.#ws !== undefined) {
      // Adopted, and ws opened the socket before the refusal started (see adopt()).
      this.#bindWs(this.#ws);
      sink({ type: 'SOCKET_OPENED' });
      this.#checkInbound();
    } else if (this.#raw !== undefined) {
      // Before the handshake only the TCP socket exists; ws takes it over on open.
      this.#raw.on('close', this.#rawClosed).on('error', this.#errored);
      this.#rawBound = true;
      this.env.counter.listeners += 2;
      // An adopted socket may have closed before the refusal started: its `close` is gone.
      if (this.#raw.destroyed) sink({ type: 'SOCKET_CLOSED', code: 1006, reason: '' });
    }
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
      this.env.wss.handleUpgrade(request, raw, head, (ws) => this.opened(ws));
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

  /** ws completed the handshake: the close frame can go. */
  opened(ws: WebSocket): void {
    this.#unbindRaw();
    this.#tcp = this.#raw;
    this.#raw = undefined;
    this.#ws = ws;
    if (this.#released) {
      ws.terminate(); // the actor is gone (an async verifyClient answered late): nobody owns it
      return;
    }
    const sink = this.#sink;
    if (sink === undefined) return; // not started yet: subscribe() takes it
    this.#bindWs(ws);
    sink({ type: 'SOCKET_OPENED' });
    this.#checkInbound();
  }

  sendCloseFrame(code: number, reason: string): void {
    this.#ws?.close(code, reason);
  }

  terminateSocket(): void {
    if (this.#ws !== undefined) this.#ws.terminate();
    else if (this.#raw !== undefined && this.fallback !== undefined) {
      const { status, message, headers } = this.fallback;
      refuseUpgrade(this.#raw, status, message, headers);
    } else this.#raw?.destroy();
  }

  #bindWs(ws: WebSocket): void {
    ws.on('close', this.#closed).on('error', this.#errored);
    this.#wsBound = true;
    this.env.counter.listeners += 2;
    // After ws's own `data` listener (added as it opened the socket): ws has read the chunk
    // when it is counted, and terminating lets go of what it buffered.
    if (this.#tcp === undefined) return;
    this.#tcp.on('data', this.#received);
    this.#tcpBound = true;
    this.env.counter.listeners += 1;
  }

  /** After SOCKET_OPENED (the close frame is sent then): the head that came with the request counts too. */
  #checkInbound(): void {
    if (this.#inbound > MAX_REFUSED_INBOUND_BYTES) this.#overflowed();
  }

  #unbindTcp(): void {
    if (this.#tcpBound) {
      this.#tcp?.off('data', this.#received);
      this.#tcpBound = false;
      this.env.counter.listeners -= 1;
    }
    this.#tcp = undefined;
  }

  /** The peer sent more than a refused client may: a socket error for the actor, which terminates it. */
  #overflowed(): void {
    this.#unbindTcp();
    const error = new Error(
      `a refused client sent more than ${MAX_REFUSED_INBOUND_BYTES} bytes after its handshake`,
    );
    this.#sink?.({ type: 'SOCKET_ERRORED', error });
  }

  #unbindRaw(): void {
    if (!this.#rawBound || this.#raw === undefined) return;
    this.#raw.off('close', this.#rawClosed).off('error', this.#errored);
    this.#rawBound = false;
    this.env.counter.listeners -= 2;
  }

  /** The undo of subscribe: whatever ended the actor, nothing of this socket is left. */
  #release(): void {
    this.#sink = undefined;
    this.#released = true;
    const raw = this.#raw;
    this.#unbindRaw();
    this.#raw = undefined;
    if (raw !== undefined && !raw.destroyed) raw.destroy();
    this.#unbindTcp();
    const ws = this.#ws;
    if (ws !== undefined) {
      if (this.#wsBound) {
        ws.off('close', this.#closed).off('error', this.#errored);
        this.#wsBound = false;
        this.env.counter.listeners -= 2;
      }
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
  /** Refusals adopted in the current step, whose actors start right after it. */
  #starting = 0;

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

  /** Refusals upgraded and not yet closed (and those adopted, about to start). */
  get inFlight(): number {
    return this.#actors.size + this.#starting;
  }

  /**
   * Refuses with a close frame. Returns false, having touched nothing, when
   * the cap is reached or the supervisor has shut down: answer over HTTP then.
   */
  refuse(request: IncomingMessage, socket: Duplex, head: Buffer, code: number, reason: string): boolean {
    if (this.#declines()) return false;
    this.#start(new RefusedSocket(this.env, socket, { request, head }, undefined), code, reason);
    return true;
  }

  /**
   * Refuses with a close frame a handshake that was admitted and then aborted
   * before it opened. `handshake` is its request and head when ws has not been
   * asked to complete it; undefined when ws is completing it (an asynchronous
   * `verifyClient`): hand the socket ws then opens to the function returned.
   * Until the socket opens, a refusal that ends answers `fallback` over HTTP.
   * Returns undefined, having touched nothing, when refuse() would decline.
   */
  adopt(
    socket: Duplex,
    handshake: Handshake | undefined,
    code: number,
    reason: string,
    fallback: HttpAnswer,
  ): ((ws: WebSocket) => void) | undefined {
    if (this.#declines()) return undefined;
    const transport = new RefusedSocket(this.env, socket, handshake, fallback);
    // Called from a connection actor's action: an actor created there makes XState's
    // development build warn that a custom action calls assign() (its initial context).
    // So it starts once the current step is over; the socket waits for it meanwhile
    // (a close or an open in between is picked up by subscribe()).
    this.#starting += 1;
    queueMicrotask(() => {
      this.#starting -= 1;
      const actor = this.#start(transport, code, reason);
      if (this.#closed) actor.send({ type: 'TERMINATE' }); // shut down meanwhile: HTTP
    });
    return (ws) => transport.opened(ws);
  }

  #declines(): boolean {
    return this.#closed || this.inFlight >= this.env.max;
  }

  #start(transport: RefusedSocket, code: number, reason: string): Actor<typeof refusalMachine> {
    const actor = createActor(this.#machine, {
      input: {
        transport,
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
    return actor;
  }

  /** From now on refuse over HTTP, and end every refusal in flight (their sockets terminated). Idempotent. */
  close(): void {
    this.#closed = true;
    for (const actor of [...this.#actors]) actor.send({ type: 'TERMINATE' });
  }
}
