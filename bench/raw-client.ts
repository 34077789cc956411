/**
 * The load generators' WebSocket client: RFC 6455 by hand on node:net. A
 * `ws` client costs about as much CPU per message as the server it loads,
 * and would saturate first on a two-core machine; this one does only what
 * the benchmarks need:
 *
 *   connect ─▶ upgrade request ─▶ 101 ─┬─ ws:       open
 *                                      └─ socketio: 0{…} ─▶ 40 ─▶ 40{…} open
 *   open: send masked frames, read the server's (unmasked) ones, answer
 *         WebSocket pings and Engine.IO pings (2 → 3)
 *   close(): close frame (1000) ─▶ the server's close frame ─▶ server FIN
 *
 * The same client drives every server kind, so that a difference between
 * kinds is the server's. Replies written while a chunk is read go out in one
 * write (the socket is corked for the chunk).
 */
import { connect, type Socket } from 'node:net';
import { classify, connectPacket, pongPacket, socketIoTarget } from './socketio-codec.js';

/** How a server kind is spoken to: plain WebSocket messages, or Socket.IO events. */
export type Protocol = 'ws' | 'socketio';

const MASK = [0x12, 0x34, 0x56, 0x78] as const;
const empty = Buffer.alloc(0);
const headEnd = Buffer.from('\r\n\r\n');
const key = Buffer.alloc(16, 7).toString('base64');

/** A masked client frame (RFC 6455 §5.2, §5.3). */
export function maskedFrame(opcode: number, payload: Buffer | string): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const n = body.length;
  const headLength = n < 126 ? 2 : n < 65_536 ? 4 : 10;
  const frame = Buffer.alloc(headLength + 4 + n);
  frame[0] = 0x80 | opcode;
  if (n < 126) frame[1] = 0x80 | n;
  else if (n < 65_536) {
    frame[1] = 0x80 | 126;
    frame.writeUInt16BE(n, 2);
  } else {
    frame[1] = 0x80 | 127;
    frame.writeBigUInt64BE(BigInt(n), 2);
  }
  frame.set(MASK, headLength);
  for (let i = 0; i < n; i++) frame[headLength + 4 + i] = (body[i] as number) ^ (MASK[i & 3] as number);
  return frame;
}

export const textFrame = (text: string) => maskedFrame(0x1, text);
const closeFrame = maskedFrame(0x8, Buffer.from([0x03, 0xe8]));
const socketIoConnect = textFrame(connectPacket);
const socketIoPong = textFrame(pongPacket);

function upgradeRequest(protocol: Protocol, user: string): Buffer {
  const target = protocol === 'socketio' ? socketIoTarget(user) : `/?user=${user}`;
  return Buffer.from(
    `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
}

type Stage = 'http' | 'engine-open' | 'namespace-connect' | 'open' | 'closing' | 'closed';
export type OpenOutcome = RawConnection | 'refused' | 'failed';
const ignore = () => {};

/** One client connection. Create it with {@link openConnection}. */
export class RawConnection {
  readonly #socket: Socket;
  readonly #protocol: Protocol;
  #stage: Stage = 'http';
  #buffered: Buffer = empty;
  #opened: (outcome: OpenOutcome) => void;
  #closed: (clean: boolean) => void = ignore;
  #sawCloseFrame = false;
  /** An application message: a ws data frame, or a Socket.IO event packet. Valid during the call only. */
  onMessage: (payload: Buffer) => void = ignore;

  constructor(port: number, protocol: Protocol, user: string, opened: (outcome: OpenOutcome) => void) {
    this.#protocol = protocol;
    this.#opened = opened;
    const socket = connect({ port, host: '127.0.0.1', noDelay: true });
    this.#socket = socket;
    socket.on('connect', () => socket.write(upgradeRequest(protocol, user)));
    socket.on('data', (chunk: Buffer) => {
      socket.cork();
      this.#read(chunk);
      socket.uncork();
    });
    socket.on('error', ignore);
    socket.on('close', () => {
      const wasOpening = this.#stage !== 'open' && this.#stage !== 'closing';
      this.#stage = 'closed';
      if (wasOpening) this.#settle('failed');
      this.#closed(this.#sawCloseFrame);
    });
  }

  get open(): boolean {
    return this.#stage === 'open';
  }

  /** Writes one pre-built frame (see {@link textFrame}); nothing once closing. */
  send(frame: Buffer): void {
    if (this.#stage === 'open') this.#socket.write(frame);
  }

  /** The next application message (a copy), or undefined if the connection closes first. */
  nextMessage(): Promise<Buffer | undefined> {
    return new Promise((resolve) => {
      const previousClosed = this.#closed;
      this.onMessage = (payload) => {
        this.onMessage = ignore;
        this.#closed = previousClosed;
        resolve(Buffer.from(payload));
      };
      this.#closed = (clean) => {
        this.onMessage = ignore;
        previousClosed(clean);
        resolve(undefined);
      };
    });
  }

  /** Close handshake; resolves at TCP close with whether the server answered with a close frame. */
  close(): Promise<boolean> {
    return new Promise((resolve) => {
      if (this.#stage === 'closed') {
        resolve(this.#sawCloseFrame);
        return;
      }
      this.#closed = resolve;
      if (this.#stage === 'open') {
        this.#stage = 'closing';
        this.#socket.write(closeFrame);
      } else this.#socket.destroy();
    });
  }

  destroy(): void {
    this.#socket.destroy();
  }

  #settle(outcome: OpenOutcome): void {
    const opened = this.#opened;
    this.#opened = ignore;
    opened(outcome);
  }

  #read(chunk: Buffer): void {
    let buffer = this.#buffered.length === 0 ? chunk : Buffer.concat([this.#buffered, chunk]);
    if (this.#stage === 'http') {
      const end = buffer.indexOf(headEnd);
      if (end < 0) {
        this.#buffered = buffer;
        return;
      }
      if (buffer.toString('latin1', 9, 12) !== '101') {
        this.#settle('refused');
        this.#socket.destroy();
        return;
      }
      buffer = buffer.subarray(end + 4);
      if (this.#protocol === 'ws') {
        this.#stage = 'open';
        this.#settle(this);
      } else this.#stage = 'engine-open';
    }
    let offset = 0;
    const length = buffer.length;
    while (length - offset >= 2) {
      const first = buffer[offset] as number;
      let size = (buffer[offset + 1] as number) & 0x7f;
      let head = 2;
      if (size === 126) {
        if (length - offset < 4) break;
        size = buffer.readUInt16BE(offset + 2);
        head = 4;
      } else if (size === 127) {
        if (length - offset < 10) break;
        size = Number(buffer.readBigUInt64BE(offset + 2));
        head = 10;
      }
      if (length - offset < head + size) break;
      const payload = buffer.subarray(offset + head, offset + head + size);
      offset += head + size;
      this.#frame(first & 0x0f, payload);
      if (this.#stage === 'closed') return;
    }
    this.#buffered = offset === length ? empty : buffer.subarray(offset);
  }

  #frame(opcode: number, payload: Buffer): void {
    if (opcode === 0x8) {
      this.#sawCloseFrame = true;
      // The server closes first (shutdown, eviction): answer, as RFC 6455 §5.5.1 asks.
      if (this.#stage !== 'closing') this.#socket.write(closeFrame);
      this.#stage = 'closing';
      return;
    }
    if (opcode === 0x9) {
      this.#socket.write(maskedFrame(0xa, payload));
      return;
    }
    if (opcode !== 0x1 && opcode !== 0x2) return;
    if (this.#protocol === 'ws') {
      if (this.#stage === 'open') this.onMessage(payload);
      return;
    }
    switch (classify(payload)) {
      case 'event':
        if (this.#stage === 'open') this.onMessage(payload);
        break;
      case 'ping':
        this.#socket.write(socketIoPong);
        break;
      case 'open':
        if (this.#stage !== 'engine-open') break;
        this.#stage = 'namespace-connect';
        this.#socket.write(socketIoConnect);
        break;
      case 'connected':
        if (this.#stage !== 'namespace-connect') break;
        this.#stage = 'open';
        this.#settle(this);
        break;
      case 'refused':
        // `next(new Error('limit'))` in a middleware: the Engine.IO connection stays up; drop it.
        this.#settle('refused');
        this.#socket.destroy();
        break;
      default:
        break;
    }
  }
}

/** Connects and completes the handshake(s); resolves with the open connection, or why not. */
export function openConnection(port: number, protocol: Protocol, user: string): Promise<OpenOutcome> {
  return new Promise((resolve) => new RawConnection(port, protocol, user, resolve));
}
