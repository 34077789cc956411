/**
 * A thaw: the process (a frozen tab's stand-in) is blocked past `silenceTimeoutMs` while the
 * server goes on talking, its messages waiting in the socket, unread. When the process runs
 * again its overdue silence delay runs before the socket's data is read (Node runs due timers
 * before the poll phase): the check must not give up a socket that was heard, only unread.
 * Real time and real sockets: the server is another process (a blocked one sends nothing), and
 * the client runs on its default clock (real timers, performance.now() and Date.now()).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { expect, it, onTestFinished } from 'vitest';
import { expectReleased, startClient } from './helpers.js';

const SILENCE_MS = 300;
/** Longer than the timeout, with room to spare: the delay is overdue when the process runs again. */
const BLOCKED_MS = 3 * SILENCE_MS;

/**
 * A ws server in a child process that sends its wall time every 20 ms to each connection; with
 * `compressed`, padded to 2 KB and sent with permessage-deflate (ws's client offers it).
 */
async function startTalkingServer(compressed: boolean) {
  const script = `
    const { WebSocketServer } = require('ws');
    const server = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: ${compressed} });
    server.on('listening', () => console.log(String(server.address().port)));
    server.on('connection', (ws) => {
      const say = () => (${compressed} ? String(Date.now()).padEnd(2048, ' ') : String(Date.now()));
      const timer = setInterval(() => ws.send(say()), 20);
      ws.on('close', () => clearInterval(timer));
    });
  `;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  onTestFinished(async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
  });
  const [port] = (await once(child.stdout, 'data')) as [Buffer];
  return { url: `ws://127.0.0.1:${String(port).trim()}/` };
}

/** Blocks this process: no timer, no socket read, for `ms` of wall time. */
function block(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // busy
  }
}

// Review r26: with permessage-deflate, ws inflates each message on a worker thread and reads no
// further frame until it is done, so one turn of the event loop did not always hear them: the
// client counts the socket's raw bytes as heard too. Whether the inflation ends before the second
// look is the machine's to decide, so without those bytes the compressed cases fail only some of
// the time (review r27: 4 runs of 9); test/client/socket-actor-tcp.test.ts fails every time.
it.each([
  ['plain messages, blocked in a timer', false, 'timer'],
  ['plain messages, blocked in a message listener', false, 'message'],
  ['compressed messages (permessage-deflate), blocked in a timer', true, 'timer'],
  ['compressed messages (permessage-deflate), blocked in a message listener', true, 'message'],
] as const)(
  'blocked past the timeout while the server talked (%s): what waited is heard before the check gives up, and the socket is kept',
  async (_name, compressed, blockedIn) => {
    const server = await startTalkingServer(compressed);
    const t = startClient({ url: server.url, silenceTimeoutMs: SILENCE_MS, clock: undefined });
    await t.next('open');
    await t.next('message');
    const from = t.mark();
    // Blocked past the timeout, from inside a timer or a socket's callback (a message listener:
    // the sure way to have the overdue silence delay run before what waited is read): without
    // the second look the plain cases fail (3 runs of 3, and a review's 3 of 3); without the raw
    // bytes counted as heard, the compressed ones fail in about half the runs (see above).
    let blockedFrom = 0;
    let blockedUntil = 0;
    await new Promise<void>((resolve) => {
      const blockNow = () => {
        blockedFrom = Date.now();
        block(BLOCKED_MS);
        blockedUntil = Date.now();
        resolve();
      };
      if (blockedIn === 'timer') setTimeout(blockNow, 0);
      else {
        const off = t.client.on('message', () => {
          off();
          blockNow();
        });
      }
    });
    // The messages sent meanwhile, then a few more: heard, and nothing else.
    await new Promise((resolve) => setTimeout(resolve, 2 * SILENCE_MS));
    const sentAt = t.events
      .slice(from)
      .filter(([type]) => type === 'message')
      .map(([, event]) => Number((event as { data: string }).data));
    // Before the check waited a turn: close 1006 `silence`, then reconnecting, on a socket heard.
    expect(t.events.slice(from).filter(([type]) => type !== 'message')).toEqual([]);
    expect(
      sentAt.some((at) => at >= blockedFrom + SILENCE_MS && at < blockedUntil),
      'the server talked while this process was blocked, past the timeout',
    ).toBe(true);
    expect(t.client.state).toBe('open');
    expect(t.sockets).toHaveLength(1);
    t.client.close();
    await expectReleased(t);
  },
);

// A trial's repro (a server talking every 100 ms, blocked 1.5 s past a 1 s timeout): send() right
// after the block, in a setImmediate callback (5 runs of 10) or after a timer (3 of 10), lost the
// live socket: the second look, a 0 ms timer, ran before the poll phase read what waited.
// silence-turn.test.ts shows it every time, on a fake socket; this is the real thing.
it.each([
  ['a setImmediate callback', 'immediate'],
  ['a timer callback (after an await)', 'timer'],
] as const)(
  'blocked past the timeout while the server talked, then send() from %s: false, the socket kept, and the next send() goes through',
  async (_name, blockedIn) => {
    const server = await startTalkingServer(false);
    const t = startClient({ url: server.url, silenceTimeoutMs: SILENCE_MS, clock: undefined });
    await t.next('open');
    await t.next('message');
    const from = t.mark();
    let answer: boolean | undefined;
    await new Promise<void>((resolve) => {
      const blockThenSend = () => {
        block(BLOCKED_MS);
        answer = t.client.send('right after the block');
        // The app's own work after it: the loop's clock moves on past a 0 ms timer.
        block(3);
        resolve();
      };
      if (blockedIn === 'immediate') setImmediate(blockThenSend);
      else void new Promise((sleep) => setTimeout(sleep, 0)).then(blockThenSend);
    });
    expect(answer).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, SILENCE_MS / 2));
    expect(t.events.slice(from).filter(([type]) => type !== 'message')).toEqual([]);
    expect(t.client.state).toBe('open');
    expect(t.sockets).toHaveLength(1);
    expect(t.client.send('kept')).toBe(true);
    t.client.close();
    await expectReleased(t);
  },
);
