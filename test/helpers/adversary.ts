/**
 * The adversarial suite's harness (test/adversarial/): a target server on
 * simulated time whose teardown cannot hang on a client that never answers,
 * frames built bit by bit (any length, RSV bits, unmasked), a reader of the
 * server's frames, and the leak check with a bound and a message that says
 * what was still held.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server, type ServerOptions } from 'node:http';
import type { Socket } from 'node:net';
import { onTestFinished } from 'vitest';
import WebSocket from 'ws';
import { SimulatedClock } from 'xstate';
import {
  type AttachOptions,
  type ConnectionHandle,
  createSupervisor,
  type Supervisor,
  type SupervisorError,
  type SupervisorOptions,
} from '../../src/index.js';
import { runProgram } from './process.js';
import { type Recorded, recordEvents } from './rules.js';
import {
  closeServer,
  expectNoInternalErrors,
  expectNoLeaks,
  listenOnLoopback,
  userFromQuery,
} from './server.js';

/** Far beyond any increment a test makes: a delay set to it never fires unless the teardown says so. */
export const never = 1_000_000_000;

export interface Target {
  server: Server;
  supervisor: Supervisor;
  clock: SimulatedClock;
  port: number;
  events: Recorded;
  errors: SupervisorError[];
  /** Every connection handle, in the order the sockets opened. */
  handles: ConnectionHandle[];
  url(user: string, path?: string): string;
}

export interface TargetOptions {
  supervisor?: Partial<SupervisorOptions>;
  /** Options of the node:http server (headersTimeout, maxHeaderSize, ...). */
  http?: ServerOptions;
  attach?: AttachOptions;
}

/**
 * An HTTP server on 127.0.0.1 port 0 with a supervisor attached: test preset
 * (limit 5, T = 4), echo, authentication by `?user=`, every delay on a
 * SimulatedClock, and no heartbeat unless asked for. The teardown shuts down
 * with a deadline of 0 and moves the clock past every delay, so a client that
 * never answers cannot hold it.
 */
export async function startTarget(options: TargetOptions = {}): Promise<Target> {
  const clock = new SimulatedClock();
  const errors: SupervisorError[] = [];
  const handles: ConnectionHandle[] = [];
  const { onOpen, ...rest } = options.supervisor ?? {};
  const supervisor = createSupervisor({
    preset: 'test',
    clock,
    heartbeatIntervalMs: never,
    authenticate: userFromQuery,
    onMessage: (connection, data, isBinary) => {
      connection.send(data, { binary: isBinary });
    },
    onError: (error) => errors.push(error),
    ...rest,
    onOpen: (connection, request) => {
      handles.push(connection);
      return onOpen?.(connection, request);
    },
  });
  const events = recordEvents(supervisor);
  const server = createServer(options.http ?? {}, (_request, response) => {
    response.writeHead(404, { 'content-type': 'text/plain' }).end('not a websocket route\n');
  });
  supervisor.attach(server, options.attach);
  const port = await listenOnLoopback(server);
  onTestFinished(async () => {
    const done = supervisor.shutdown({ deadlineMs: 0 });
    clock.increment(never * 2);
    await done;
    await closeServer(server);
    // A bug the runtime caught changes nothing a client sees: only onError hears it.
    expectNoInternalErrors(errors);
  });
  return {
    server,
    supervisor,
    clock,
    port,
    events,
    errors,
    handles,
    url: (user, path = '/') => `ws://127.0.0.1:${port}${path}?user=${encodeURIComponent(user)}`,
  };
}

/**
 * The real-time deadline for I/O over loopback (a frame, a hang-up, a
 * disposal that follows one): 1–2 s is too short on a loaded 2-core CI
 * machine. It only turns a hang into a clear message; the delays the
 * supervisor measures run on the injected clock.
 */
export const ioDeadlineMs = 5_000;

/** Rejects with `message` (and what `detail` says then) unless `promise` settles within `timeoutMs`. */
export async function within<T>(
  promise: Promise<T>,
  timeoutMs: number,
  message: string,
  detail: () => unknown = () => undefined,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const shown = detail();
      reject(
        new Error(
          `${message} (not within ${timeoutMs} ms)${shown === undefined ? '' : `: ${JSON.stringify(shown)}`}`,
        ),
      );
    }, timeoutMs);
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Polls `check` every `intervalMs` until it holds, for facts that emit no
 * event (a slot book, a TCP connection count); fails after `timeoutMs` with
 * `message` and the last `detail`.
 */
export async function until(
  check: () => boolean | Promise<boolean>,
  message: string,
  { timeoutMs = ioDeadlineMs, intervalMs = 5, detail = () => undefined as unknown } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() >= deadline) {
      const shown = detail();
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${message}${shown === undefined ? '' : `: ${JSON.stringify(shown)}`}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Resolves once the supervisor holds no connection, woken by `disposed` events; bounded. */
export function allGone(supervisor: Supervisor, timeoutMs = ioDeadlineMs): Promise<void> {
  if (supervisor.stats().connections === 0) return Promise.resolve();
  let off = () => {};
  const gone = new Promise<void>((resolve) => {
    off = supervisor.on('disposed', () => {
      if (supervisor.stats().connections === 0) resolve();
    });
  });
  return within(gone, timeoutMs, 'every connection to reach disposed', () => supervisor.stats()).finally(off);
}

/**
 * The leak check that ends every adversarial test: once every connection is
 * disposed (waited for, bounded), nothing is held and disposed == admitted.
 */
export async function expectLeakFree(supervisor: Supervisor, timeoutMs = 3_000): Promise<void> {
  await allGone(supervisor, timeoutMs);
  expectNoLeaks(supervisor);
}

export interface FrameOptions {
  fin?: boolean;
  /** RSV1..RSV3 as the three bits 0b100, 0b010, 0b001. */
  rsv?: number;
  masked?: boolean;
}

/** The header of a client frame announcing `length` payload bytes (mask key included when masked). */
export function frameHeader(opcode: number, length: number | bigint, options: FrameOptions = {}): Buffer {
  const { fin = true, rsv = 0, masked = true } = options;
  const first = (fin ? 0x80 : 0) | ((rsv & 0b111) << 4) | (opcode & 0x0f);
  const maskBit = masked ? 0x80 : 0;
  const size = BigInt(length);
  let head: Buffer;
  if (size < 126n) {
    head = Buffer.from([first, maskBit | Number(size)]);
  } else if (size < 65536n) {
    head = Buffer.alloc(4);
    head[0] = first;
    head[1] = maskBit | 126;
    head.writeUInt16BE(Number(size), 2);
  } else {
    head = Buffer.alloc(10);
    head[0] = first;
    head[1] = maskBit | 127;
    head.writeBigUInt64BE(size, 2);
  }
  return masked ? Buffer.concat([head, maskKey]) : head;
}

const maskKey = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);

/** A whole client frame of any length; masked unless told otherwise (RFC 6455 §5.1 says clients must). */
export function clientFrame(opcode: number, payload: Buffer | string, options: FrameOptions = {}): Buffer {
  const bytes = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const masked = options.masked ?? true;
  const body = masked ? Buffer.from(bytes.map((byte, i) => byte ^ (maskKey[i % 4] as number))) : bytes;
  return Buffer.concat([frameHeader(opcode, bytes.length, options), body]);
}

/** A close frame's payload: the code, then the reason. */
export function closePayload(code: number, reason = ''): Buffer {
  const payload = Buffer.alloc(2 + Buffer.byteLength(reason));
  payload.writeUInt16BE(code, 0);
  payload.write(reason, 2);
  return payload;
}

export const Opcode = { continuation: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 } as const;

export interface ServerFrame {
  fin: boolean;
  opcode: number;
  payload: Buffer;
}

/** Splits the server's (unmasked) frames off the front of `bytes`; returns them and what is left. */
function parseFrames(bytes: Buffer): { frames: ServerFrame[]; rest: Buffer } {
  const frames: ServerFrame[] = [];
  let offset = 0;
  for (;;) {
    if (bytes.length - offset < 2) break;
    const first = bytes[offset] as number;
    const second = bytes[offset + 1] as number;
    let length = second & 0x7f;
    let start = offset + 2;
    if (length === 126) {
      if (bytes.length < start + 2) break;
      length = bytes.readUInt16BE(start);
      start += 2;
    } else if (length === 127) {
      if (bytes.length < start + 8) break;
      length = Number(bytes.readBigUInt64BE(start));
      start += 8;
    }
    if (bytes.length < start + length) break;
    frames.push({
      fin: (first & 0x80) !== 0,
      opcode: first & 0x0f,
      payload: bytes.subarray(start, start + length),
    });
    offset = start + length;
  }
  return { frames, rest: bytes.subarray(offset) };
}

/**
 * Reads what the server sends a raw client after its handshake, frame by
 * frame. `closeFrame()` resolves with the code of the server's close frame
 * (skipping pings and messages), or rejects when the socket ends without one.
 */
export function serverFrames(socket: Socket, leftover: Buffer = Buffer.alloc(0)) {
  let pending = leftover;
  const frames: ServerFrame[] = [];
  const waiters = new Set<() => void>();
  let ended = false;
  const wake = () => {
    for (const waiter of waiters) waiter();
  };
  const take = (chunk: Buffer) => {
    const parsed = parseFrames(Buffer.concat([pending, chunk]));
    pending = parsed.rest;
    frames.push(...parsed.frames);
    wake();
  };
  take(Buffer.alloc(0));
  socket.on('data', take);
  const end = () => {
    ended = true;
    wake();
  };
  socket.once('end', end).once('close', end);
  const first = (matches: (frame: ServerFrame) => boolean, what: string) =>
    new Promise<ServerFrame>((resolve, reject) => {
      const look = () => {
        const found = frames.find(matches);
        if (found !== undefined) {
          waiters.delete(look);
          resolve(found);
        } else if (ended) {
          waiters.delete(look);
          reject(new Error(`the server ended the TCP connection without sending ${what}`));
        }
      };
      waiters.add(look);
      look();
    });
  return {
    frames,
    /** Resolves with the server's close code (1005 when its close frame carries none). */
    async closeCode(): Promise<number> {
      const close = await first((frame) => frame.opcode === Opcode.close, 'a close frame');
      return close.payload.length >= 2 ? close.payload.readUInt16BE(0) : 1005;
    },
    ping: () => first((frame) => frame.opcode === Opcode.ping, 'a ping'),
  };
}

/** Resolves once the TCP connection is closed (at once when it already is), by a FIN or a reset. */
export function tcpClosed(socket: Socket): Promise<void> {
  if (socket.closed) return Promise.resolve();
  // Not events.once(): it rejects on the 'error' that comes with a reset.
  return new Promise((resolve) => socket.once('close', () => resolve()));
}

/** Resolves once the server has ended its side (FIN) or reset the connection. */
export function serverHungUp(socket: Socket): Promise<void> {
  if (socket.readableEnded || socket.closed) return Promise.resolve();
  return new Promise((resolve) => {
    socket.once('end', () => resolve()).once('close', () => resolve());
  });
}

export type Attempt = { opened: WebSocket } | { status: number } | { error: string };

/** One upgrade attempt with a `ws` client: opened, refused with a status, or failed otherwise. Terminated after the test. */
export function attempt(url: string, options: WebSocket.ClientOptions = {}): Promise<Attempt> {
  const ws = new WebSocket(url, options);
  onTestFinished(() => ws.terminate());
  return new Promise((resolve) => {
    ws.once('open', () => resolve({ opened: ws }));
    ws.once('unexpected-response', (_request, response) => {
      response.resume();
      resolve({ status: response.statusCode ?? 0 });
      ws.terminate();
    });
    ws.once('error', (error) => resolve({ error: error.message }));
  });
}

/**
 * Starts test/adversarial/fixtures/hold-connections.mjs, a client process
 * that opens `count` connections spread over `users` users, and waits until
 * it holds them all. Killed after the test if still running.
 */
export async function holdConnections(url: string, count: number, users: number, timeoutMs = 30_000) {
  const program = runProgram('test/adversarial/fixtures/hold-connections.mjs', [
    url,
    String(count),
    String(users),
  ]);
  await within(
    program.waitFor(/holding \d+/),
    timeoutMs,
    `the client process to open ${count} connections`,
    () => program.output(),
  );
  return program;
}

/**
 * The soft limit on open files of this process (from /proc/self/limits), or
 * Infinity where that file does not exist. Heavy tests that hold thousands of
 * sockets in this process are skipped, saying so, below what they need.
 */
export function openFileLimit(): number {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((entry) => entry.startsWith('Max open files'));
    const soft = line?.split(/\s{2,}/)[1];
    return soft === undefined || soft === 'unlimited' ? Number.POSITIVE_INFINITY : Number(soft);
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}

/** Runs `work` on every item with at most `concurrency` at a time; resolves with the results in order. */
export async function inBatches<T, R>(
  items: T[],
  concurrency: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const lane = async () => {
    for (let index = next++; index < items.length; index = next++) {
      results[index] = await work(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, lane));
  return results;
}
