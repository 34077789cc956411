/**
 * An in-memory transport for the soak and the scale benchmark: the whole
 * runtime runs (handleUpgrade, authenticate, WsConnection, the three
 * machines, the clock), and only TCP and the `ws` protocol are replaced.
 *
 * It plugs in through the public `webSocketServer` option, so src/ needs no
 * seam: MemoryWebSocketServer is a real `WebSocketServer({ noServer: true })`
 * whose handleUpgrade hands out a MemoryWebSocket instead of parsing bytes,
 * and the upgrade's "TCP socket" is a MemorySocket. Both keep the event
 * contracts the adapter relies on: a `close` event always follows
 * terminate()/destroy(), asynchronously, as it does on a real socket.
 *
 * A MemoryPeer is the client's side: it sends messages, answers pings and
 * close frames (or not), closes, drops or errors the connection.
 */
import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';

const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;

const noBuffer = Buffer.alloc(0);

/** How the client behaves when the server pings or sends a close frame. */
export interface PeerBehaviour {
  /** Answers pings with pongs. @default true */
  answersPings: boolean;
  /** Answers a close frame with its own, so the close handshake completes. @default true */
  answersClose: boolean;
}

/** The raw TCP socket of an upgrade request, before the handshake. */
export class MemorySocket extends EventEmitter {
  destroyed = false;
  writable = true;
  readable = true;
  readableEnded = false;
  /** The HTTP status the server answered with, when it refused the upgrade. */
  refusedWith: number | undefined;

  end(data?: string): this {
    if (typeof data === 'string') this.refusedWith = Number(data.slice(9, 12));
    this.writable = false;
    queueMicrotask(() => this.emit('finish'));
    return this;
  }

  destroy(): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    this.writable = false;
    this.readable = false;
    queueMicrotask(() => this.emit('close', false));
    return this;
  }
}

/** The server's side of an open connection: what `ws` would hand the adapter. */
export class MemoryWebSocket extends EventEmitter {
  readyState: number = CONNECTING;
  bufferedAmount = 0;
  /** Messages the server sent (the echo), read by the peer. */
  received = 0;
  readonly behaviour: PeerBehaviour;

  constructor(behaviour: PeerBehaviour) {
    super();
    this.behaviour = behaviour;
  }

  send(_data: unknown, _options?: unknown): void {
    if (this.readyState === OPEN) this.received += 1;
  }

  ping(): void {
    if (this.readyState !== OPEN || !this.behaviour.answersPings) return;
    queueMicrotask(() => {
      if (this.readyState === OPEN) this.emit('pong', noBuffer);
    });
  }

  /** Sends a close frame; a peer that answers completes the handshake and the socket closes. */
  close(code = 1000, reason = ''): void {
    if (this.readyState >= CLOSING) return;
    this.readyState = CLOSING;
    if (this.behaviour.answersClose) queueMicrotask(() => this.#closed(code, reason));
  }

  terminate(): void {
    if (this.readyState === CLOSED) return;
    this.readyState = CLOSING;
    queueMicrotask(() => this.#closed(1006, ''));
  }

  #closed(code: number, reason: string): void {
    if (this.readyState === CLOSED) return;
    this.readyState = CLOSED;
    this.emit('close', code, Buffer.from(reason));
  }

  // --- the peer's moves (called by MemoryPeer) ------------------------------

  peerSends(data: Buffer): void {
    if (this.readyState === OPEN) this.emit('message', data, false);
  }

  /** The peer sends a close frame: the server answers it and the socket closes. */
  peerCloses(code: number): void {
    if (this.readyState !== OPEN) return;
    this.readyState = CLOSING;
    queueMicrotask(() => this.#closed(code, ''));
  }

  /** The TCP connection drops without a close frame. */
  peerDrops(): void {
    if (this.readyState === CLOSED) return;
    this.readyState = CLOSING;
    queueMicrotask(() => this.#closed(1006, ''));
  }

  /** A protocol error: ws emits `error`, then closes the socket. */
  peerErrors(): void {
    if (this.readyState !== OPEN) return;
    this.readyState = CLOSING;
    this.emit('error', new Error('memory transport: invalid frame'));
    queueMicrotask(() => this.#closed(1002, ''));
  }

  markOpen(): void {
    this.readyState = OPEN;
  }
}

/**
 * A `WebSocketServer({ noServer: true })` whose handshake is a function call.
 * Like ws, it calls back synchronously and gives up on a socket already gone.
 */
export class MemoryWebSocketServer extends WebSocketServer {
  constructor() {
    // At most every preset's maxPayloadBytes (64 KiB is the smallest): an own server's larger
    // limit is refused without an explicit maxPayloadBytes, and nothing here sends more.
    super({ noServer: true, clientTracking: false, maxPayload: 65_536 });
  }

  override handleUpgrade(
    request: IncomingMessage,
    socket: Duplex,
    _head: Buffer,
    callback: (client: WebSocket, request: IncomingMessage) => void,
  ): void {
    const raw = socket as unknown as MemorySocket;
    const peer = (raw as MemorySocket & { peer?: MemoryPeer }).peer;
    if (raw.destroyed || peer === undefined) {
      raw.destroy();
      return;
    }
    const ws = new MemoryWebSocket(peer.behaviour);
    ws.markOpen();
    peer.ws = ws;
    callback(ws as unknown as WebSocket, request);
  }
}

const handshakeHeaders = Object.freeze({
  host: '127.0.0.1',
  upgrade: 'websocket',
  connection: 'Upgrade',
  'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
  'sec-websocket-version': '13',
});

const answering: PeerBehaviour = Object.freeze({ answersPings: true, answersClose: true });

/** The client's side of one connection attempt. */
export class MemoryPeer {
  readonly raw: MemorySocket & { peer?: MemoryPeer };
  readonly request: IncomingMessage;
  ws: MemoryWebSocket | undefined;
  readonly behaviour: PeerBehaviour;

  constructor(userId: string, behaviour: PeerBehaviour = answering) {
    this.behaviour = behaviour;
    this.raw = new MemorySocket();
    this.raw.peer = this;
    // A well-formed handshake: the supervisor refuses, before authenticate, what ws would refuse.
    this.request = {
      method: 'GET',
      httpVersionMajor: 1,
      httpVersionMinor: 1,
      url: `/?user=${userId}`,
      headers: handshakeHeaders,
    } as unknown as IncomingMessage;
  }

  /** Admitted and open (the handshake completed). */
  get open(): boolean {
    return this.ws?.readyState === OPEN;
  }

  send(text: string): void {
    this.ws?.peerSends(Buffer.from(text));
  }

  close(code = 1000): void {
    this.ws?.peerCloses(code);
  }

  drop(): void {
    if (this.ws !== undefined) this.ws.peerDrops();
    else this.raw.destroy();
  }

  error(): void {
    this.ws?.peerErrors();
  }
}

/** Resolves after pending microtasks and I/O callbacks have run. */
export const settle = () => new Promise<void>((resolve) => setImmediate(resolve));
