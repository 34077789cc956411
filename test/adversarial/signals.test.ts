/**
 * Signals to the reference server process. A terminal's Ctrl-C sends SIGINT
 * to the whole foreground process group: under `npm start` that is npm and
 * the server, and npm forwards its own SIGINT to the server as well, so the
 * server gets two SIGINTs at once. A second signal during the drain must not
 * kill the process: clients still get 1001 and the process exits 0.
 *
 * One client stops reading, so that the drain lasts until its deadline and the
 * second signal arrives while it is under way. Run `npm run build` first
 * (npm test does).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it, onTestFinished } from 'vitest';
import WebSocket from 'ws';
import { within } from '../helpers/adversary.js';
import { runProgram } from '../helpers/process.js';
import { stopReading } from '../helpers/rules.js';
import { closed } from '../helpers/server.js';

const script = 'dist/examples/reference-server/main.js';
const flags = ['--port', '0', '--preset', 'test', '--drain-timeout-ms', '1000', '--heartbeat-ms', '600000'];

async function open(url: string): Promise<WebSocket> {
  const ws = new WebSocket(url);
  onTestFinished(() => ws.terminate());
  await once(ws, 'open');
  // A reset when the process dies shows in the close code; it is not a test error.
  ws.on('error', () => {});
  return ws;
}

/** Opens two clients that answer the close and one that never reads; returns the first two's close codes to come. */
async function clients(url: string): Promise<{ codes: Promise<number[]> }> {
  const polite = [await open(`${url}/?user=ann`), await open(`${url}/?user=bob`)];
  stopReading(await open(`${url}/?user=sly`));
  return { codes: Promise.all(polite.map(async (ws) => (await closed(ws)).code)) };
}

describe('the reference server and SIGINT twice', () => {
  it('node main.js: SIGINT, then SIGINT again while draining: clients get 1001, exit 0', async () => {
    const program = runProgram(script, flags);
    const [, url = ''] = await within(
      program.waitFor(/listening on (ws:\/\/\S+)/),
      15_000,
      'the server to start',
    );
    const { codes } = await clients(url);

    program.child.kill('SIGINT');
    await within(program.waitFor(/SIGINT: draining 3 connection/), 5_000, 'the drain to start');
    program.child.kill('SIGINT');

    const exitCode = await within(program.exited, 10_000, 'the server to exit', () => program.output());
    expect({ exitCode, signal: program.child.signalCode, codes: await codes }).toEqual({
      exitCode: 0,
      signal: null,
      codes: [1001, 1001],
    });
    expect(program.output()).toMatch(/drained; bye/);
  }, 20_000);

  it('npm start, Ctrl-C in a terminal (SIGINT to the process group): clients get 1001, exit 0', async () => {
    // --ignore-scripts: only the start script, without the prestart build (already built).
    const npm = spawn('npm', ['start', '--ignore-scripts', '--', ...flags], { detached: true });
    const group = npm.pid;
    if (group === undefined) throw new Error('npm did not start');
    onTestFinished(() => {
      try {
        process.kill(-group, 'SIGKILL');
      } catch {
        // the group is already gone
      }
    });
    let output = '';
    npm.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    npm.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    // 'close', not 'exit': after 'exit' the last lines may still be in the pipe.
    const exited = once(npm, 'close') as Promise<[number | null, NodeJS.Signals | null]>;
    const line = async (pattern: RegExp) => {
      while (!pattern.test(output))
        await within(once(npm.stdout, 'data'), 15_000, `${pattern}`, () => output);
      return output.match(pattern) as RegExpMatchArray;
    };
    const [, url = ''] = await line(/listening on (ws:\/\/\S+)/);
    const { codes } = await clients(url);

    process.kill(-group, 'SIGINT');

    const [exitCode, signal] = await within(exited, 10_000, 'npm to exit', () => output);
    expect({ exitCode, signal, codes: await codes }).toEqual({
      exitCode: 0,
      signal: null,
      codes: [1001, 1001],
    });
    expect(output).toMatch(/drained; bye/);
  }, 20_000);
});
