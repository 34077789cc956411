/**
 * A second copy of ws-supervisor in the same process, as an app gets one with
 * two versions in node_modules or a bundle beside the package: the built
 * package (dist/, so run `npm run build` first; `npm test` does) copied under
 * its own node_modules/ws-supervisor in a temp dir. Its classes are its own,
 * so `instanceof` against the source's classes fails; its dependencies (xstate,
 * ws) resolve to the project's, as a deduplicating install would have them.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { onTestFinished } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));

export type Library = typeof import('../../src/index.js');

/** Loads the second copy; the temp dir is removed after the test (the loaded modules stay). */
export async function loadSecondCopy(): Promise<Library> {
  const entry = join(root, 'dist', 'src', 'index.js');
  if (!existsSync(entry)) throw new Error(`${entry} is missing: run \`npm run build\` first`);
  const dir = mkdtempSync(join(tmpdir(), 'wssup-second-copy-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  const copy = join(dir, 'node_modules', 'ws-supervisor');
  mkdirSync(copy, { recursive: true });
  cpSync(join(root, 'package.json'), join(copy, 'package.json'));
  for (const part of ['src', 'machines'])
    cpSync(join(root, 'dist', part), join(copy, 'dist', part), { recursive: true });
  symlinkSync(join(root, 'node_modules'), join(copy, 'node_modules'), 'dir');
  return (await import(pathToFileURL(join(copy, 'dist', 'src', 'index.js')).href)) as Library;
}
