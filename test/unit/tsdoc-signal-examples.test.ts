/**
 * What an editor shows on hover is copied into apps: a TSDoc @example that stops on a signal
 * must leave a process that exits. A `process.on('SIGTERM', …)` handler replaces Node's default
 * exit, so one that only calls `supervisor.shutdown()` keeps the HTTP server, and the process,
 * running until the orchestrator's SIGKILL (a new-user trial copied createSupervisor's).
 * The same holds of what the README, the docs and examples/ show (review r20): each of their
 * signal handlers, and every promise chain on shutdown() they show (the README's cluster-worker
 * and Express lines among them), catches the rejection and closes the server in `.finally()`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const root = new URL('../../', import.meta.url);
const src = new URL('src/', root);

/**
 * shutdown() whose rejection is caught, then the server closed whatever happened: `.then()`
 * alone left the server open and the rejection unhandled when shutdown() rejected (cluster
 * mode's stop). The `finally` may be a block (express-registry detaches first) and close()
 * may take a callback (the README's cluster-worker line).
 */
const CATCH_THEN_CLOSE =
  /shutdown\([^)]*\)(?:\s*\/\/[^\n]*)?\s*\.catch\([^\n]*\)\s*\.finally\(\(\) => (?:\{[^}]*?)?\w*[sS]erver\.close\(/;

/**
 * Then, in the same `.finally()`, closeAllConnections(): after shutdown() only HTTP stragglers
 * are left, and close() alone waits forever for a request whose headers never end.
 */
const CLOSE_THEN_CUT =
  /\.finally\(\(\) => \{[^}]*?\b(\w*[sS]erver)\.close\([^}]*?\b\1\.closeAllConnections\(\)/;

/** Each TSDoc block's @example text, with its file, the leading ` * ` removed. */
function examples(): { file: string; text: string }[] {
  const found: { file: string; text: string }[] = [];
  for (const file of readdirSync(src, { recursive: true, encoding: 'utf8' })) {
    if (!file.endsWith('.ts')) continue;
    const source = readFileSync(new URL(file, src), 'utf8');
    for (const block of source.matchAll(/\/\*\*[\s\S]*?\*\//g)) {
      const at = block[0].indexOf('@example');
      if (at < 0) continue;
      const text = block[0]
        .slice(at)
        .split('\n')
        .map((line) => line.replace(/^\s*\*( |\/)?/, ''))
        .join('\n');
      found.push({ file, text });
    }
  }
  return found;
}

describe('TSDoc examples that handle a signal', () => {
  const stopping = examples().filter(({ text }) => /process\.on\(\s*'SIG/.test(text));

  it('are found (the scan reads the examples)', () => {
    expect(stopping.map(({ file }) => file).sort()).toEqual(['dashboard/handler.ts', 'supervisor.ts']);
  });

  it.each(stopping.map(({ file, text }) => [file, text]))(
    '%s closes the HTTP server once shutdown() has settled, and catches its rejection',
    (_file, text) => {
      // .then() alone: a rejected shutdown() (cluster mode's stop) left the server open and
      // the rejection unhandled.
      expect(text).toMatch(CATCH_THEN_CLOSE);
      // Then the HTTP stragglers (a request whose headers never end), as every chain below.
      expect(text).toMatch(CLOSE_THEN_CUT);
    },
  );
});

/** The documents and examples an app copies from: examples/*.ts, the README, docs/*.md. */
function documents(): { file: string; text: string }[] {
  const inDir = (dir: string, ext: string) =>
    readdirSync(new URL(`${dir}/`, root))
      .filter((name) => name.endsWith(ext))
      .map((name) => `${dir}/${name}`);
  return [...inDir('examples', '.ts'), 'README.md', ...inDir('docs', '.md')].map((file) => ({
    file,
    text: readFileSync(new URL(file, root), 'utf8'),
  }));
}

/**
 * The `stop` handlers of the pieces that stop on a signal (an example file, a fenced block
 * of a document): from `const stop =` to the `process.on()` that installs it. One that calls
 * no shutdown() (examples/fastify.ts: `app.close()`, whose preClose hook awaits it) is left out.
 */
function signalHandlers(): { where: string; text: string }[] {
  const found: { where: string; text: string }[] = [];
  for (const { file, text } of documents()) {
    const pieces = file.endsWith('.md')
      ? [...text.matchAll(/```\w*\n([\s\S]*?)```/g)].map((m) => m[1] ?? '')
      : [text];
    for (const piece of pieces) {
      const handler = /const stop = [\s\S]*?process\.on\(\s*'SIG\w+',\s*stop\)/.exec(piece)?.[0];
      if (handler?.includes('shutdown(')) found.push({ where: file, text: handler });
    }
  }
  return found;
}

/** Every promise chain on shutdown() (`.then`, `.catch` or `.finally` after the call), from the call on. */
function shutdownChains(): { where: string; text: string }[] {
  const found: { where: string; text: string }[] = [];
  for (const { file, text } of documents()) {
    for (const match of text.matchAll(/shutdown\([^)]*\)(?:\s*\/\/[^\n]*)?\s*\.(?:then|catch|finally)\(/g)) {
      const line = text.slice(0, match.index).split('\n').length;
      found.push({ where: `${file}:${line}`, text: text.slice(match.index, match.index + 600) });
    }
  }
  return found;
}

/** The examples that stop on SIGTERM, each with one handler and one chain on shutdown(). */
const EXAMPLES_WITH_SIGNAL_HANDLERS = [
  'examples/client.ts',
  'examples/cluster-presence.ts',
  'examples/cluster.ts',
  'examples/embedding.ts',
  'examples/express-registry.ts',
  'examples/logging.ts',
  'examples/observing.ts',
  'examples/per-ip-limit.ts',
  'examples/plans.ts',
  'examples/rooms.ts',
];

describe('the signal handlers of the README, the docs and examples/', () => {
  const handlers = signalHandlers();

  it('are found (the scan reads them)', () => {
    // The README's quick start is examples/embedding.ts; docs/embedding.md quotes it too.
    expect(handlers.map(({ where }) => where).sort()).toEqual([
      'README.md',
      'docs/embedding.md',
      'docs/embedding.md',
      ...EXAMPLES_WITH_SIGNAL_HANDLERS,
    ]);
  });

  it.each(handlers.map(({ where, text }) => [where, text]))(
    '%s closes the HTTP server once shutdown() has settled, and catches its rejection',
    (_where, text) => {
      expect(text).toMatch(CATCH_THEN_CLOSE);
    },
  );
});

describe('every promise chain on shutdown() in the README, the docs and examples/', () => {
  const chains = shutdownChains();

  it("is found (the scan reads them: the handlers above, and docs/embedding.md's cluster-worker and Express lines)", () => {
    expect(chains.map(({ where }) => where.replace(/:\d+$/, '')).sort()).toEqual([
      'README.md',
      'docs/embedding.md',
      'docs/embedding.md',
      'docs/embedding.md',
      'docs/embedding.md',
      ...EXAMPLES_WITH_SIGNAL_HANDLERS,
    ]);
  });

  it.each(chains.map(({ where, text }) => [where, text]))(
    '%s catches the rejection, then closes the server in .finally()',
    (_where, text) => {
      // From the call on: a chain that goes on with .then() fails, whatever follows it.
      expect(text.match(CATCH_THEN_CLOSE)?.index).toBe(0);
    },
  );

  // A hostile-client trial: server.close() alone waited forever for a request whose headers
  // never end (close() stops Node's headersTimeout checks), so the process never exited.
  // After shutdown() only such HTTP stragglers are left; the same .finally() cuts them. (Every
  // example also runs so, with such a request held, in test/examples/examples.test.ts.)
  it.each(chains.map(({ where, text }) => [where, text]))(
    '%s then cuts the HTTP stragglers: closeAllConnections() after close(), in the same .finally()',
    (_where, text) => {
      expect(text).toMatch(CLOSE_THEN_CUT);
    },
  );
});

/**
 * Every `await …shutdown()` inside a function (a hook such as Fastify's preClose) of the
 * non-test examples and the documents, with the lines around it. A statement after it in
 * the same block is skipped when shutdown() rejects (cluster mode's stop): examples/fastify.ts
 * left its detach() undone that way (review r22). Top-level awaits end a script; tests are
 * not copied into apps.
 */
function awaitedShutdowns(): { where: string; before: string; after: string }[] {
  const found: { where: string; before: string; after: string }[] = [];
  for (const { file, text } of documents()) {
    if (file.endsWith('.test.ts')) continue;
    const lines = text.split('\n');
    lines.forEach((line, at) => {
      if (!/^[ \t]+await [\w.]*shutdown\(/.test(line)) return;
      found.push({ where: `${file}:${at + 1}`, before: lines[at - 1] ?? '', after: lines[at + 1] ?? '' });
    });
  }
  return found;
}

describe('every awaited shutdown() in a function of the README, the docs and examples/', () => {
  const awaited = awaitedShutdowns();

  it("is found (the scan reads them: Fastify's preClose hook, in the example and docs/embedding.md; its NestJS provider)", () => {
    expect(awaited.map(({ where }) => where.replace(/:\d+$/, '')).sort()).toEqual([
      'docs/embedding.md',
      'docs/embedding.md',
      'examples/fastify.ts',
    ]);
  });

  it.each(awaited.map(({ where, before, after }) => [where, before, after]))(
    '%s skips nothing when shutdown() rejects: it ends its function, or what follows is in a finally',
    (_where, before, after) => {
      const ends = /^\s*\}\)?;?\s*$/.test(after);
      const inTry = /try \{\s*$/.test(before) && /^\s*\} finally \{\s*$/.test(after);
      expect(ends || inTry, `after it: ${after.trim()}`).toBe(true);
    },
  );
});

describe('TSDoc examples that ask the supervisor from a timer', () => {
  // The `reaped` example asked userStats({ cluster: true }) after a grace, uncaught: it rejects
  // in an outage (WSSUP_STORE_UNAVAILABLE) and once stopping (WSSUP_SHUTTING_DOWN), so a timer
  // still pending at shutdown() became an unhandled rejection (Node 20 exits on it), and held
  // the process open until it fired.
  const timed = examples().filter(({ text }) => /setTimeout\(async/.test(text));

  it('are found (the scan reads the examples)', () => {
    expect(timed.map(({ file }) => file)).toEqual(['events.ts']);
  });

  it.each(timed.map(({ file, text }) => [file, text]))(
    '%s catches what the supervisor rejects with, and holds no process open',
    (_file, text) => {
      expect(text).toMatch(/setTimeout\(async \(\) => \{\s*try \{[\s\S]*await supervisor\.[\s\S]*\} catch/);
      expect(text).toMatch(/\}, \w+\)\.unref\(\);/);
    },
  );
});
