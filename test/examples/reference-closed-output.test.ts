/**
 * The reference server with its output gone: `npm start | head -1` (a script
 * that reads the port from the first line), or a log shipper that died. Node
 * reports a write to a closed pipe as an 'error' event on process.stdout, and
 * nobody listened: the next log line (`SIGTERM: draining …`) crashed the
 * server with an unhandled EPIPE in the middle of its drain: exit 1, before
 * the drain ended (in cluster mode, before it gave back its slots and its
 * lease). These run the built program.
 */
import { once } from 'node:events';
import { describe, expect, it, onTestFinished } from 'vitest';
import WebSocket from 'ws';
import { runProgram } from '../helpers/process.js';
import { closed } from '../helpers/server.js';

const script = 'dist/examples/reference-server/main.js';

describe('the reference server whose stdout reader went away', () => {
  it('SIGTERM still drains every client with 1001 and exits 0, its lines dropped', async () => {
    const program = runProgram(script, ['--port', '0', '--preset', 'test']);
    const [, url] = await program.waitFor(/listening on (ws:\/\/127\.0\.0\.1:\d+)/);
    await program.waitFor(/refusals over HTTP\n/); // the last line of the start
    program.child.stdout.destroy(); // as `head -1` exits after its line
    const ws = new WebSocket(`${url}/?user=alice`);
    onTestFinished(() => ws.terminate());
    await once(ws, 'open');
    const wsClosed = closed(ws);

    program.child.kill('SIGTERM'); // `SIGTERM: draining 1 connection(s)` on stdout: nobody reads it
    expect((await wsClosed).code).toBe(1001);
    expect(await program.exited).toBe(0);
    expect(program.errorOutput()).toBe(''); // no stack trace of an unhandled EPIPE
  });
});
