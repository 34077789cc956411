/**
 * A load generator in its own process, driven by bench/run.ts over IPC, on
 * the raw client of bench/raw-client.ts (the same client for every server
 * kind; `protocol` says whether to speak plain WebSocket or Socket.IO).
 *
 *   churn   `workers` cycles back to back: open, one echo, close
 *   hold    open `count` connections (100 handshakes in flight) and keep them
 *   pump    on the held connections, `depth` echoes in flight each (messages)
 *   mark    start counting (churn and pump) and this process's CPU time
 *   stop / stop-pump   stop, and report what was counted since mark
 *   release drop the held connections
 */
import { performance } from 'node:perf_hooks';
import { MessagesLoad, type MessagesReport } from './messages-load.js';
import { openConnection, type Protocol, type RawConnection, textFrame } from './raw-client.js';
import { eventPacket } from './socketio-codec.js';

export type ClientRequest =
  | {
      cmd: 'churn';
      protocol: Protocol;
      port: number;
      workers: number;
      firstWorker: number;
      concurrency: number;
      users: number;
    }
  | { cmd: 'mark' }
  | { cmd: 'stop' }
  | { cmd: 'hold'; protocol: Protocol; port: number; count: number; first: number; users: number }
  | { cmd: 'pump'; protocol: Protocol; depth: number }
  | { cmd: 'stop-pump' }
  | { cmd: 'release' };

export interface ChurnReport {
  cycles: number;
  refused: number;
  failed: number;
  latenciesMs: number[];
  /** This process's CPU time over the window, as a share of one core (0–1). */
  busy: number;
}
export type { MessagesReport };

const send = (message: unknown) => process.send?.(message);

const churnMessage = {
  ws: { frame: textFrame('hello'), echo: Buffer.from('hello') },
  socketio: {
    frame: textFrame(eventPacket('message', 'hello')),
    echo: Buffer.from(eventPacket('message', 'hello')),
  },
} as const;

type Outcome = 'ok' | 'refused' | 'failed';

/** One cycle: open (handshakes), one message and its echo, close handshake, TCP closed. */
async function cycle(port: number, protocol: Protocol, user: string): Promise<Outcome> {
  const connection = await openConnection(port, protocol, user);
  if (typeof connection === 'string') return connection;
  const { frame, echo } = churnMessage[protocol];
  connection.send(frame);
  const reply = await connection.nextMessage();
  if (reply === undefined || !reply.equals(echo)) {
    connection.destroy();
    return 'failed';
  }
  return (await connection.close()) ? 'ok' : 'failed';
}

let running = false;
let marked = false;
let markedCpu = process.cpuUsage();
let markedAt = 0;
let report: ChurnReport = { cycles: 0, refused: 0, failed: 0, latenciesMs: [], busy: 0 };
let workersDone: Promise<void>[] = [];

/** CPU time since mark, as a share of one core. */
function busySinceMark(): number {
  const cpu = process.cpuUsage(markedCpu);
  return (cpu.user + cpu.system) / ((performance.now() - markedAt) * 1000);
}

async function worker(
  port: number,
  protocol: Protocol,
  index: number,
  concurrency: number,
  users: number,
): Promise<void> {
  // Worker w uses users w, w + c, w + 2c, ... (mod users): no two workers share a user at once.
  for (let k = 0; running; k++) {
    const user = `u${(index + k * concurrency) % users}`;
    const started = performance.now();
    const outcome = await cycle(port, protocol, user);
    if (!marked) continue;
    if (outcome === 'ok') {
      report.cycles += 1;
      report.latenciesMs.push(performance.now() - started);
    } else if (outcome === 'refused') report.refused += 1;
    else report.failed += 1;
  }
}

const held: RawConnection[] = [];
const messages = new MessagesLoad();

/** Opens `count` connections, 100 handshakes in flight, and keeps the ones that open. */
async function hold(port: number, protocol: Protocol, count: number, first: number, users: number) {
  let next = 0;
  let opened = 0;
  const lane = async () => {
    while (next < count) {
      const index = first + next++;
      const connection = await openConnection(port, protocol, `u${index % users}`);
      if (typeof connection === 'string') continue;
      opened += 1;
      held.push(connection);
    }
  };
  await Promise.all(Array.from({ length: 100 }, lane));
  return opened;
}

process.on('message', async (request: ClientRequest) => {
  switch (request.cmd) {
    case 'churn':
      running = true;
      marked = false;
      report = { cycles: 0, refused: 0, failed: 0, latenciesMs: [], busy: 0 };
      workersDone = Array.from({ length: request.workers }, (_, i) =>
        worker(request.port, request.protocol, request.firstWorker + i, request.concurrency, request.users),
      );
      send({ started: true });
      break;
    case 'mark':
      marked = true;
      markedCpu = process.cpuUsage();
      markedAt = performance.now();
      messages.mark();
      send({ marked: true });
      break;
    case 'stop': {
      // Cycles completed after the stop are not counted: the window is [mark, stop].
      const result = { ...report, busy: busySinceMark() };
      marked = false;
      running = false;
      await Promise.all(workersDone);
      send({ report: result });
      break;
    }
    case 'hold':
      send({
        opened: await hold(request.port, request.protocol, request.count, request.first, request.users),
      });
      break;
    case 'pump':
      messages.start(held, request.protocol, request.depth);
      send({ pumping: true });
      break;
    case 'stop-pump':
      marked = false;
      send({ messages: messages.stop() });
      break;
    case 'release':
      for (const connection of held.splice(0)) connection.destroy();
      send({ released: true });
      break;
  }
});
send({ ready: true });
