/**
 * The reference server with its output gone: `npm start | head -1` (a script
 * that reads the port from the first line), or a log shipper that died. Node
 * reports a write to a closed pipe as an 'error' event on process.stdout, and
 * nobody listened: the next log line (`SIGTERM: draining …`) crashed the
 * server with an unhandled EPIPE in the middle of its drain: exit 1, before
 * the drain ended (in cluster mode, before it gave back its slots and its
 * lease). These run the built program.
 */
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import WebSocket from 'ws';
import { runCommand, runProgram } from '../helpers/process.js';
import { requireExternal } from '../helpers/requirements.js';
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

/**
 * util-linux's `script`, which runs a command on a terminal of its own (a pty). Debian has it
 * (bsdutils, an essential package); macOS's BSD `script` takes other flags, so there the test
 * is skipped, loudly, as for any missing requirement.
 */
const hasScript = requireExternal(
  "util-linux's script",
  (() => {
    try {
      execFileSync('script', ['-qec', 'true', '/dev/null'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })(),
  'The SIGHUP-on-a-closed-terminal test runs the server on a pty through util-linux `script -qfec`.\n' +
    'Debian/Ubuntu: apt-get install bsdutils; macOS: brew install util-linux (and put its bin first on PATH).',
);

describe('the reference server whose terminal was closed', () => {
  // The terminal goes, and with it the SIGHUP that stops the server: its next line
  // (`SIGHUP: draining …`) failed with EIO, thrown from the 'error' listener that drops
  // EPIPE, so the server crashed mid-drain (in cluster mode before giving back its slots).
  it.skipIf(!hasScript)(
    'SIGHUP drains every client with 1001, its lines dropped: no crash on EIO',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'wssup-tty-'));
      onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
      const errors = join(dir, 'stderr');
      // stdin and stdout on the pty, stderr in a file, read after the terminal is gone.
      const command = `echo pid=$$; exec "${process.execPath}" ${script} --port 0 --preset test 2>"${errors}"`;
      const terminal = runCommand('script', ['-qfec', command, '/dev/null']);
      const [, pid] = await terminal.waitFor(/pid=(\d+)/);
      const alive = () => {
        try {
          process.kill(Number(pid), 0);
          return true;
        } catch {
          return false;
        }
      };
      onTestFinished(() => {
        if (alive()) process.kill(Number(pid), 'SIGKILL');
      });
      const [, url] = await terminal.waitFor(/listening on (ws:\/\/127\.0\.0\.1:\d+)/);
      const ws = new WebSocket(`${url}/?user=alice`);
      onTestFinished(() => ws.terminate());
      await once(ws, 'open');
      const wsClosed = closed(ws);

      terminal.child.kill('SIGKILL'); // the terminal closes: the kernel hangs up the server's pty (SIGHUP)
      expect((await wsClosed).code).toBe(1001);
      await vi.waitFor(() => expect(alive()).toBe(false), { timeout: 10_000, interval: 50 });
      // Node 20 may still abort at its very end, resetting a terminal that is gone (nodejs/node#51519,
      // fixed in later Node by nodejs/node#58200): after the drain, and not a crash of ours.
      expect(readFileSync(errors, 'utf8')).not.toMatch(/Error: write EIO|throw error/);
    },
  );
});
