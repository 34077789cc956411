/**
 * What a browser test page of ws-supervisor/client is served: the built client as it ships
 * (dist/src/client/, dist/machines/, the few modules of dist/src/ it imports, the list
 * test/client/options.test.ts pins) and xstate's ESM build, joined by the page's import map.
 */
import { existsSync, readFileSync } from 'node:fs';

const root = new URL('../../', import.meta.url);

/** What the static server may hand out: the built client, its machines, and xstate's browser build. */
export function staticFile(path: string): string | undefined {
  const served = [
    { prefix: '/dist/src/client/', dir: 'dist/src/client/' },
    { prefix: '/dist/machines/', dir: 'dist/machines/' },
    {
      prefix: '/dist/src/',
      dir: 'dist/src/',
      only: [
        'clock-shape.js',
        'closest-name.js',
        'error-brand.js',
        'errors.js',
        'heartbeat-message.js',
        'inspect.js',
        'option-habits.js',
        'thenable.js',
      ],
    },
    { prefix: '/xstate/', dir: 'node_modules/xstate/dist/' },
  ];
  for (const { prefix, dir, only } of served) {
    if (!path.startsWith(prefix)) continue;
    const name = path.slice(prefix.length);
    if (!/^[\w.-]+\.js$/.test(name) || (only !== undefined && !only.includes(name))) return undefined;
    if (prefix === '/xstate/' && !name.endsWith('.esm.js')) return undefined;
    const file = new URL(`${dir}${name}`, root);
    return existsSync(file) ? readFileSync(file, 'utf8') : undefined;
  }
  return undefined;
}
