/**
 * What an editor shows on hover is copied into apps: a TSDoc @example that stops on a signal
 * must leave a process that exits. A `process.on('SIGTERM', …)` handler replaces Node's default
 * exit, so one that only calls `supervisor.shutdown()` keeps the HTTP server, and the process,
 * running until the orchestrator's SIGKILL (a new-user trial copied createSupervisor's).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const src = new URL('../../src/', import.meta.url);

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
      expect(text).toMatch(
        /shutdown\([^)]*\)(?:\s*\/\/[^\n]*)?\s*\.catch\([^\n]*\)\s*\.finally\(\(\) => \w*[sS]erver\.close\(\)\)/,
      );
    },
  );
});
