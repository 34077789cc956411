/**
 * Loads an optional peer dependency on first use (issue 13). elkjs is 7.9 MB
 * of install for one feature (SVG charts), so apps that never draw an SVG do
 * not install it; prom-client (issue 11) is only for apps that export
 * metrics. When a feature that needs one runs without it, the caller gets a
 * MissingPeerError naming the package, not a bare ERR_MODULE_NOT_FOUND.
 */
import { createRequire } from 'node:module';
import { MissingPeerError } from './errors.js';

/** Imports a module by specifier; replaceable so that tests can point it anywhere. */
export type ModuleLoader = (specifier: string) => Promise<unknown>;

const importModule: ModuleLoader = (specifier) => import(specifier);

/**
 * Imports `specifier` (a module of the package `peer`) for `feature`.
 * @throws {MissingPeerError} WSSUP_MISSING_PEER when the module cannot be found.
 */
export async function importOptionalPeer<T>(
  peer: string,
  specifier: string,
  feature: string,
  load: ModuleLoader = importModule,
): Promise<T> {
  try {
    return (await load(specifier)) as T;
  } catch (error) {
    throw asMissingPeer(error, peer, feature);
  }
}

/** Requires a CommonJS module by specifier; replaceable so that tests can point it anywhere. */
export type SyncModuleLoader = (specifier: string) => unknown;

const require = createRequire(import.meta.url);
const requireModule: SyncModuleLoader = require;

/**
 * Requires `specifier` (a CommonJS module of the package `peer`) for
 * `feature`, synchronously: prom-client is CommonJS, and `registerMetrics()`
 * must not turn async for it. It is the same module instance an app's
 * `import 'prom-client'` gets (Node shares the CommonJS cache with ESM).
 * @throws {MissingPeerError} WSSUP_MISSING_PEER when the module cannot be found.
 */
export function requireOptionalPeer<T>(
  peer: string,
  specifier: string,
  feature: string,
  load: SyncModuleLoader = requireModule,
): T {
  try {
    return load(specifier) as T;
  } catch (error) {
    throw asMissingPeer(error, peer, feature);
  }
}

/** Resolves a specifier to a file without loading it; replaceable so that tests can point it anywhere. */
export type ModuleResolver = (specifier: string) => string;

const resolveModule: ModuleResolver = (specifier) => require.resolve(specifier);

/**
 * Checks, without loading it, that the package `peer` is installed, for a
 * feature that imports it later, asynchronously: cluster mode connects to
 * Redis after createSupervisor() has returned, and a missing `redis` found
 * only then is one report to onError while the app runs on its per-process
 * limit. Only "not found" counts as missing: a package whose `exports` offer
 * no CommonJS entry (ERR_PACKAGE_PATH_NOT_EXPORTED) may still import fine,
 * and is left to the import.
 * @throws {MissingPeerError} WSSUP_MISSING_PEER when the package cannot be found.
 */
export function assertOptionalPeerInstalled(
  peer: string,
  feature: string,
  resolve: ModuleResolver = resolveModule,
): void {
  try {
    resolve(peer);
  } catch (error) {
    const missing = asMissingPeer(error, peer, feature);
    if (missing instanceof MissingPeerError) throw missing;
  }
}

function asMissingPeer(error: unknown, peer: string, feature: string): unknown {
  // ESM (ERR_MODULE_NOT_FOUND) or CommonJS (MODULE_NOT_FOUND) resolution: the
  // package, or a file of it, is not installed. Anything else is a real failure.
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
    return new MissingPeerError(peer, feature, error);
  }
  return error;
}
