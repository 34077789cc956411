/**
 * `npm start` builds before it starts (its `prestart`), but only what changed
 * (issue 13): it used to recompile everything on every start, 7–15 s before
 * `listening`. The outcome checked: a build with nothing to do writes
 * nothing in dist/ (every output file keeps its modification time).
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { runCommand } from '../helpers/process.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const dist = join(root, 'dist');

/** Every file under dist/ with its modification time. */
function snapshot(): Record<string, number> {
  const files = readdirSync(dist, { recursive: true, encoding: 'utf8' }).filter((file) =>
    statSync(join(dist, file)).isFile(),
  );
  return Object.fromEntries(files.sort().map((file) => [file, statSync(join(dist, file)).mtimeMs]));
}

async function prestart(): Promise<void> {
  const program = runCommand('npm', ['run', 'prestart']);
  expect(await program.exited, program.output()).toBe(0);
}

it('the build before `npm start` rewrites nothing in dist/ when no source changed', async () => {
  await prestart(); // brings dist/ up to date, if it was not (npm test has just built it)
  const before = snapshot();
  expect(Object.keys(before)).toContain(join('examples', 'reference-server', 'main.js'));
  await prestart();
  expect(snapshot()).toEqual(before);
}, 120_000);
