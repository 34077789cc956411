/**
 * Every example's command line (the reference server's is in reference-command-line.test.ts):
 * `--help` prints the usage and exits 0; a port that is not one, an unknown
 * flag or a stray argument print a message and the usage and exit 2, before
 * anything listens: never a stack trace, nor a listen on NaN. They share the
 * reference server's parsing (examples/reference-server/command-line.ts).
 * These run the built programs (npm run build first; npm test does).
 */
import { once } from 'node:events';
import { readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { runProgram } from '../helpers/process.js';
import { scopedCase } from '../helpers/test-scope.js';

const programs = readdirSync(new URL('../../examples/', import.meta.url))
  // A test file among the examples (testing-your-app.test.ts) is not a program: vitest runs it.
  .filter((name) => name.endsWith('.ts') && !name.endsWith('.test.ts'))
  .map((name) => name.replace(/\.ts$/, ''));

/**
 * embedding.ts is the README's first block, which a newcomer pastes into an app: it imports
 * nothing of the repository's, so it has no flags, and reads its port from PORT (tested below).
 */
const selfContained = ['embedding'];
const examples = programs.filter((name) => !selfContained.includes(name));

const noStackTrace = /^\s+at /m;

// Each case waits for a process of its own to start and exit: they run concurrently, and
// scopedCase keeps each process's cleanup (its SIGKILL, its WSSUP_INTERNAL check) on its own case.
describe('every example reads its flags like the reference server (exit 2, not a stack trace)', {
  concurrent: true,
}, () => {
  it('finds the examples', () => {
    expect(programs).toEqual(expect.arrayContaining(selfContained));
    expect(examples).toContain('observing');
    expect(examples.length).toBeGreaterThanOrEqual(9);
  });

  it.for(examples)(
    '%s --help: the usage, exit 0',
    scopedCase(async (name) => {
      const program = runProgram(`dist/examples/${name}.js`, ['--help']);
      expect(await program.exited).toBe(0);
      expect(program.output()).toMatch(new RegExp(`^Usage: npm run example:${name} -- \\[options\\]`));
      expect(program.output()).toMatch(/--port <n> +port, 0 for any free port/);
      expect(program.output()).not.toMatch(/listening on/);
    }),
  );

  it.for([
    ...examples.flatMap((name) => [
      [name, ['--port', 'abc'], /error: --port must be a number, got "abc"/],
      [name, ['--no-such-flag'], /error: Unknown option '--no-such-flag'/],
    ]),
    // The rest is the same shared code in every example: once is enough.
    ['observing', ['--port', '70000'], /error: --port must be an integer from 0 to 65535, got "70000"/],
    ['observing', ['--port', '80.5'], /error: --port must be an integer from 0 to 65535, got "80.5"/],
    ['observing', ['--port'], /error: Option '--port <value>' argument missing/],
    ['observing', ['8080'], /error: unexpected argument 1 \(not shown: it may be a secret\)/],
    ['cluster', ['--redis'], /error: Option '--redis <value>' argument missing/],
    // Values the library refuses (its InvalidOptionError), said in the flags' terms.
    [
      'cluster',
      ['--redis', 'localhost:6379'],
      /^error: --redis: expected .*redis:\/\/.*, got localhost:6379$/m,
    ],
    ['cluster', ['--node-id', 'a b'], /^error: --node-id: expected .*, got a b$/m],
  ])(
    '%s %j: a message and the usage, exit 2',
    scopedCase(async ([name, args, message]) => {
      const program = runProgram(`dist/examples/${String(name)}.js`, args as string[]);
      expect(await program.exited).toBe(2);
      expect(program.errorOutput()).toMatch(message as RegExp);
      expect(program.errorOutput()).toMatch(/Usage: npm run example:/);
      expect(program.output()).not.toMatch(noStackTrace);
      expect(program.output()).not.toMatch(/listening on/);
    }),
  );

  // The README's commands all say --port 8080, which its "Try it" block has the reference
  // server hold: Node's stack trace of an unhandled 'error' was what the next example printed.
  it.for(programs)(
    '%s on a port in use (--port, or PORT for embedding): one line, exit 2, not a stack trace',
    scopedCase(async (name, { onTestFinished }) => {
      const taken = createServer().listen(0, '127.0.0.1');
      onTestFinished(() => void taken.close());
      await once(taken, 'listening');
      const { port } = taken.address() as { port: number };
      // Never the shared Redis on 6379 (the cluster example's default): nothing listens on port 9.
      const redis = name.startsWith('cluster') ? ['--redis', 'redis://127.0.0.1:9'] : [];
      const program = selfContained.includes(name)
        ? runProgram(`dist/examples/${name}.js`, [], { PORT: String(port) })
        : // express-dashboard refuses to start without its token, before it listens.
          runProgram(`dist/examples/${name}.js`, ['--port', String(port), ...redis], {
            DASHBOARD_TOKEN: 'example-token-0123456789',
          });
      expect(await program.exited).toBe(2);
      expect(program.errorOutput()).toMatch(
        /^error: cannot listen: listen EADDRINUSE: address already in use 127\.0\.0\.1:\d+$/m,
      );
      expect(program.output()).not.toMatch(noStackTrace);
      expect(program.output()).not.toMatch(/listening on/);
    }),
  );

  it.for(['existing-http-server', 'express-dashboard'])(
    '%s: a PORT that is not a port, exit 2',
    scopedCase(async (name) => {
      const program = runProgram(`dist/examples/${name}.js`, [], { PORT: 'abc' });
      expect(await program.exited).toBe(2);
      // Named by the variable that gave it: no command line has a --port to look for.
      expect(program.errorOutput()).toMatch(/error: PORT \(--port\) must be a number, got "abc"/);
      expect(program.output()).not.toMatch(noStackTrace);
    }),
  );
});
