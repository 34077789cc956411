/**
 * The load generator: a minimal WebSocket client on node:net, in its own
 * process, driven by bench/run.ts over IPC. A `ws` client costs more CPU per
 * cycle than the server it loads and would saturate first; this one does
 * only what a cycle needs:
 *
 *   connect ─▶ upgrade request ─▶ 101 ─▶ one masked text frame ─▶ its echo
 *     ─▶ close frame (1000) ─▶ the server's close frame ─▶ server FIN ─▶ closed
 *
 * `churn` runs `workers` such cycles back to back; `hold` opens connections
 * and keeps them (the memory benchmark).
 */
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

export type ClientRequest =
  | { cmd: 'churn'; port: number; workers: number; firstWorker: number; concurrency: number; users: number }
  | { cmd: 'mark' }
  | { cmd: 'stop' }
  | { cmd: 'hold'; port: number; count: number; first: number; users: number }
  | { cmd: 'release' };

export interface ChurnReport {
  cycles: number;
  refused: number;
  failed: number;
  latenciesMs: number[];
}

const send = (message: unknown) => process.send?.(message);
const key = Buffer.alloc(16, 7).toString('base64');
const upgrade = (user: string) =>
  Buffer.from(
    `GET /?user=${user} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );

/** A masked client frame (RFC 6455 §5.3), payload under 126 bytes. */
function maskedFrame(opcode: number, payload: Buffer): Buffer {
  const mask = [0x12, 0x34, 0x56, 0x78];
  const body = payload.map((byte, i) => byte ^ (mask[i % 4] as number));
  return Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | payload.length, ...mask]), body]);
}
const message = Buffer.from('hello');
const textFrame = maskedFrame(0x1, message);
const closeFrame = maskedFrame(0x8, Buffer.from([0x03, 0xe8]));
const headEnd = Buffer.from('\r\n\r\n');

type Outcome = 'ok' | 'refused' | 'failed';

/** One open / echo / close cycle; resolves when the TCP connection is closed. */
function cycle(port: number, request: Buffer): Promise<Outcome> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1', noDelay: true });
    let buffered: Buffer = Buffer.alloc(0);
    let step: 'head' | 'echo' | 'close' | 'end' = 'head';
    let outcome: Outcome = 'failed';
    socket.on('connect', () => socket.write(request));
    socket.on('data', (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      for (;;) {
        if (step === 'head') {
          const end = buffered.indexOf(headEnd);
          if (end < 0) return;
          if (buffered.toString('latin1', 9, 12) !== '101') {
            outcome = 'refused';
            socket.destroy();
            return;
          }
          buffered = buffered.subarray(end + 4);
          step = 'echo';
          socket.write(textFrame);
        } else if (step === 'echo') {
          if (buffered.length < 2 + message.length) return;
          buffered = buffered.subarray(2 + message.length);
          step = 'close';
          socket.write(closeFrame);
        } else if (step === 'close') {
          if (buffered.length < 4) return;
          if (buffered[0] !== 0x88) {
            socket.destroy();
            return;
          }
          step = 'end';
          outcome = 'ok';
          return;
        } else {
          return;
        }
      }
    });
    socket.on('error', () => {
      outcome = 'failed';
    });
    socket.on('close', () => resolve(outcome));
  });
}

let running = false;
let marked = false;
let report: ChurnReport = { cycles: 0, refused: 0, failed: 0, latenciesMs: [] };
let workersDone: Promise<void>[] = [];

async function worker(port: number, index: number, concurrency: number, users: number): Promise<void> {
  // Worker w uses users w, w + c, w + 2c, ... (mod users): no two workers share a user at once.
  for (let k = 0; running; k++) {
    const request = upgrade(`u${(index + k * concurrency) % users}`);
    const started = performance.now();
    const outcome = await cycle(port, request);
    if (!marked) continue;
    if (outcome === 'ok') {
      report.cycles += 1;
      report.latenciesMs.push(performance.now() - started);
    } else if (outcome === 'refused') report.refused += 1;
    else report.failed += 1;
  }
}

const held: Socket[] = [];

/** Opens `count` connections (100 handshakes in flight) and keeps them open. */
async function hold(port: number, count: number, first: number, users: number): Promise<number> {
  let next = 0;
  let opened = 0;
  const one = (index: number) =>
    new Promise<void>((resolve) => {
      const socket = connect({ port, host: '127.0.0.1' });
      socket.on('connect', () => socket.write(upgrade(`u${index % users}`)));
      socket.on('error', () => resolve());
      socket.on('close', () => resolve());
      let head = Buffer.alloc(0);
      const onData = (chunk: Buffer) => {
        head = Buffer.concat([head, chunk]);
        if (head.indexOf(headEnd) < 0) return;
        socket.off('data', onData);
        if (head.toString('latin1', 9, 12) === '101') {
          opened += 1;
          held.push(socket);
        } else socket.destroy();
        resolve();
      };
      socket.on('data', onData);
    });
  const lane = async () => {
    while (next < count) await one(first + next++);
  };
  await Promise.all(Array.from({ length: 100 }, lane));
  return opened;
}

process.on('message', async (request: ClientRequest) => {
  switch (request.cmd) {
    case 'churn':
      running = true;
      marked = false;
      report = { cycles: 0, refused: 0, failed: 0, latenciesMs: [] };
      workersDone = Array.from({ length: request.workers }, (_, i) =>
        worker(request.port, request.firstWorker + i, request.concurrency, request.users),
      );
      send({ started: true });
      break;
    case 'mark':
      marked = true;
      send({ marked: true });
      break;
    case 'stop': {
      // Cycles completed after the stop are not counted: the window is [mark, stop].
      const result = report;
      marked = false;
      running = false;
      await Promise.all(workersDone);
      send({ report: result });
      break;
    }
    case 'hold':
      send({ opened: await hold(request.port, request.count, request.first, request.users) });
      break;
    case 'release':
      for (const socket of held.splice(0)) socket.destroy();
      send({ released: true });
      break;
  }
});
send({ ready: true });
