/**
 * A redis-server whose wall clock is off by a fixed offset, as on a host whose
 * NTP is broken: libfaketime (Debian's `faketime` package) preloaded into it.
 * Only the wall clock moves (TIME, key expiry, the scripts' `nowMs()`); the
 * monotonic clock Redis times its own loop with is left alone
 * (FAKETIME_DONT_FAKE_MONOTONIC), as a skewed host's would be.
 *
 * libfaketime cannot start in a process that allocates with jemalloc, as
 * Debian's redis-server does (libfaketime issue #130: its first clock_gettime
 * calls dlsym, which allocates, which initialises jemalloc, which calls
 * clock_gettime: the process hangs or dies). glibc's libc_malloc_debug.so.0,
 * preloaded first, takes malloc, calloc, realloc, free and malloc_usable_size
 * (all of redis-server's allocations) from jemalloc: the clock is the only
 * thing these servers do differently, and the allocator never matters to it.
 *
 * Without either library, the tests that need it are skipped loudly (or fail
 * under WSSUP_REQUIRE_EXTERNAL=1, CI), as for redis-server itself:
 *
 * ```ts
 * const hasFaketime = requireExternal('libfaketime', findFaketime() !== undefined, faketimeHint());
 * describe.runIf(hasRedis && hasFaketime)('...', () => {
 *   const redis = usePrivateRedis({ clockOffset: '+30s' });
 * });
 * ```
 */
import { accessSync, constants } from 'node:fs';

/** Where Debian and others put them (multiarch first); FAKETIME_LIB_PATH picks libfaketime. */
const LIBRARY_DIRS = [
  '/usr/lib/x86_64-linux-gnu',
  '/usr/lib/aarch64-linux-gnu',
  '/lib/x86_64-linux-gnu',
  '/lib/aarch64-linux-gnu',
  '/usr/lib64',
  '/usr/lib',
  '/usr/local/lib',
];

export interface Faketime {
  /** libfaketime.so.1 */
  readonly library: string;
  /** glibc's libc_malloc_debug.so.0, preloaded before it (see above). */
  readonly malloc: string;
}

/** The two libraries a skewed redis-server needs, or undefined when either is missing. */
export function findFaketime(env: NodeJS.ProcessEnv = process.env): Faketime | undefined {
  const chosen = env.FAKETIME_LIB_PATH;
  const library =
    chosen !== undefined && chosen !== ''
      ? readable(chosen)
      : firstReadable(
          LIBRARY_DIRS.flatMap((dir) => [`${dir}/faketime/libfaketime.so.1`, `${dir}/libfaketime.so.1`]),
        );
  const malloc = firstReadable(LIBRARY_DIRS.map((dir) => `${dir}/libc_malloc_debug.so.0`));
  return library === undefined || malloc === undefined ? undefined : { library, malloc };
}

/** How to get libfaketime, for requireExternal's message. */
export function faketimeHint(): string {
  return [
    'The clock-skew tests start redis-servers whose clock is off by seconds to hours, with libfaketime.',
    'Install it (Debian/Ubuntu, as root: apt-get install -y --no-install-recommends faketime),',
    "or point FAKETIME_LIB_PATH at libfaketime.so.1. glibc 2.34+'s libc_malloc_debug.so.0 is needed too",
    "(libfaketime hangs in a redis-server built with jemalloc; glibc's malloc stands in for it).",
  ].join('\n');
}

/**
 * The environment of a redis-server whose wall clock is `offset` from the real one,
 * in libfaketime's relative syntax: '+30s', '-1h', '+90m', '-2d'.
 * @throws when libfaketime is missing (guard with requireExternal first) or the offset is not relative.
 */
export function skewedClockEnv(offset: string): NodeJS.ProcessEnv {
  if (!/^[+-]\d+(\.\d+)?[smhdy]?$/.test(offset))
    throw new Error(`a clock offset is relative, e.g. '+30s' or '-1h': ${JSON.stringify(offset)}`);
  const found = findFaketime();
  if (found === undefined) throw new Error(`libfaketime was not found.\n${faketimeHint()}`);
  return {
    ...process.env,
    LD_PRELOAD: `${found.malloc} ${found.library}`,
    FAKETIME: offset,
    // Only the wall clock: Redis's event loop and latency timers run on CLOCK_MONOTONIC.
    // (FAKETIME_NO_CACHE is not needed: its cache is of the spec, which FAKETIME fixes.)
    FAKETIME_DONT_FAKE_MONOTONIC: '1',
  };
}

function firstReadable(paths: readonly string[]): string | undefined {
  for (const path of paths) if (readable(path) !== undefined) return path;
  return undefined;
}

function readable(path: string): string | undefined {
  try {
    accessSync(path, constants.R_OK);
    return path;
  } catch {
    return undefined;
  }
}
