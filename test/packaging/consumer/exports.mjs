// Every subpath of the installed package's "exports" map, loaded with import()
// as an app would: each must load and export something. A path the map does
// not list (a file under dist/) must be refused, so that nothing internal
// becomes API by accident. Prints one JSON line with what it saw.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const manifest = JSON.parse(await readFile(require.resolve('ws-supervisor/package.json'), 'utf8'));
const subpaths = {};
for (const subpath of Object.keys(manifest.exports)) {
  const specifier = `ws-supervisor${subpath.slice(1)}`;
  const loaded = subpath.endsWith('.json')
    ? await import(specifier, { with: { type: 'json' } })
    : await import(specifier);
  subpaths[subpath] = Object.keys(loaded).sort();
}
const deep = await import('ws-supervisor/dist/src/errors.js').then(
  () => 'loaded',
  (error) => error.code,
);
console.log(JSON.stringify({ subpaths, deep }));
