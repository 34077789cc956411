/**
 * Most test files share their worker's module registry (vitest.config.ts): a file that mocks a
 * module, stubs a global or the environment, fakes the timers or spies on a shared object would
 * leave that in the registry for the next file the worker runs, and that file would fail, or
 * pass, for a reason of another file's; one that counts the process's timers and handles would
 * count what an earlier file left closing as its own; one that sets V8's flags sets them for the
 * whole process. Such files must be listed in test/isolated-files.ts,
 * which gives them a registry of their own; this test finds them by what they call.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isolatedFiles } from '../isolated-files.js';

const root = join(import.meta.dirname, '..', '..');
const REACHES_OUTSIDE_ITS_FILE =
  /\bvi\s*\.\s*(mock|doMock|unmock|stubGlobal|stubEnv|useFakeTimers|spyOn|resetModules)\b|\bgetActiveResourcesInfo\b|\bsetFlagsFromString\b|\bcreateHook\s*\(|helpers\/resources\.js/;

function testFiles(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : testFiles(path);
    return entry.name.endsWith('.test.ts') && !entry.name.endsWith('.heavy.test.ts') ? [path] : [];
  });
}

describe('test files that need a module registry of their own', () => {
  const files = [...testFiles('test'), ...testFiles('examples')].map((path) =>
    relative(root, join(root, path)),
  );

  it('are all listed in test/isolated-files.ts', () => {
    const reaching = files.filter((file) =>
      REACHES_OUTSIDE_ITS_FILE.test(readFileSync(join(root, file), 'utf8')),
    );
    expect(reaching.length).toBeGreaterThan(0); // the scan reads the files it should
    expect(reaching.filter((file) => !(isolatedFiles as readonly string[]).includes(file))).toEqual([]);
  });

  it('lists only test files that exist', () => {
    expect(
      isolatedFiles.filter((file) => !existsSync(join(root, file)) || !file.endsWith('.test.ts')),
    ).toEqual([]);
  });
});
