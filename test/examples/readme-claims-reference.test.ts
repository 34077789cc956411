/**
 * README, The reference server, Stopping: "a further signal exits at once,
 * without waiting for the drain, with code 128 + the signal's number (130
 * for SIGINT)". stop-signals.test.ts proves it for SIGINT; here SIGTERM
 * (143), as a process manager sends it. The built program.
 */
import { once } from 'node:events';
import { connect as connectTcp, type Socket } from 'node:net';
import { expect, it, onTestFinished } from 'vitest';
import { runProgram } from '../helpers/process.js';

/** A client that completes the handshake, then never reads again: it never answers our close frame. */
async function silentClient(port: number, user: string): Promise<Socket> {
  const socket = connectTcp(port, '127.0.0.1');
  onTestFinished(() => void socket.destroy());
  socket.write(
    `GET /?user=${user} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${Buffer.alloc(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  const [reply] = (await once(socket, 'data')) as [Buffer];
  expect(reply.toString()).toMatch(/^HTTP\/1\.1 101 /);
  socket.pause();
  return socket;
}

it('a second SIGTERM after the 500 ms window exits at once with 143 (128 + 15), and says so on stderr', async () => {
  const program = runProgram('dist/examples/reference-server/main.js', [
    '--port',
    '0',
    '--preset',
    'test',
    '--drain-timeout-ms',
    '600000',
  ]);
  const [, , port] = await program.waitFor(/listening on (ws:\/\/127\.0\.0\.1:(\d+))/);
  await silentClient(Number(port), 'silent');

  program.child.kill('SIGTERM');
  await program.waitFor(/still draining 1 connection\(s\).*send SIGTERM again to stop now/);
  expect(program.child.exitCode).toBeNull();

  program.child.kill('SIGTERM');
  expect(await program.exited).toBe(143);
  expect(program.errorOutput()).toMatch(/SIGTERM again: exiting now without draining 1 connection\(s\)/);
  expect(program.output()).not.toMatch(/drained; bye/);
});
