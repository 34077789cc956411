/**
 * The command lines of the reference server, of every example and of the
 * bench programs (bench/ imports this file; it ships, bench does not): Node's
 * `parseArgs`, strict, with `-h, --help`. Whatever it refuses (an unknown
 * flag, a flag without its value, a stray argument), and a value that is not
 * a number, becomes a message a user can read; the program prints it with its
 * usage and exits 2 (0 for --help): never a stack trace, nor a run on NaN.
 */
import type { Server } from 'node:net';
import { parseArgs } from 'node:util';

/** A command line the program cannot run with: its message is for the user. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * Reads the string flags `names`, the boolean flags `switches` (given or not: they take no
 * value), and --help, from `argv`.
 * @throws {ConfigError} for anything parseArgs refuses (`--dashboard-open=yes` among them)
 */
export function parseFlags<N extends string, S extends string = never>(
  argv: string[],
  names: readonly N[],
  switches: readonly S[] = [],
): { help: boolean; values: Partial<Record<N, string>>; switches: Partial<Record<S, true>> } {
  const options = {
    help: { type: 'boolean', short: 'h' },
    ...Object.fromEntries(names.map((name) => [name, { type: 'string' as const }])),
    ...Object.fromEntries(switches.map((name) => [name, { type: 'boolean' as const }])),
  } as const;
  try {
    const { values, tokens } = parseCommandLine({
      args: argv,
      strict: true,
      allowPositionals: false,
      options,
      tokens: true,
    });
    // parseArgs keeps the last of a repeated flag without a word: `--port 1 --port 2` served on 2,
    // and a flag given by a unit file and again by an override took whichever came last. Refused,
    // naming the flag and never its values (one may be a secret).
    const seen = new Set<string>();
    for (const token of tokens) {
      if (token.kind !== 'option' || token.name === 'help') continue;
      if (seen.has(token.name))
        throw new ConfigError(`--${token.name} is given more than once: give it once`);
      seen.add(token.name);
    }
    const { help, ...given } = values;
    const on = new Set<string>(switches);
    const strings: Record<string, string> = {};
    const booleans: Record<string, true> = {};
    for (const [name, value] of Object.entries(given)) {
      if (on.has(name)) booleans[name] = true;
      else strings[name] = value as string;
    }
    return {
      help: help === true,
      values: strings as Partial<Record<N, string>>,
      switches: booleans as Partial<Record<S, true>>,
    };
  } catch (error) {
    throw error instanceof ConfigError ? error : new ConfigError((error as Error).message);
  }
}

/**
 * Node's `parseArgs`, whose refusal of a stray argument names its place instead of quoting it
 * (see strayArgument), and which takes a negative number after a flag as the flag's value (see
 * negativeValuesJoined): what every command line here is read with, the bench programs' too.
 * @throws {ConfigError} for a stray argument; parseArgs's own error for anything else
 */
export const parseCommandLine: typeof parseArgs = (config) => {
  const given = negativeValuesJoined(config?.args ?? process.argv.slice(2), config?.options);
  try {
    // The same config but its args: typed as the caller's, whose results it describes.
    return parseArgs({ ...config, args: given.args } as unknown as typeof config);
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') throw error;
    throw new ConfigError(strayArgument(given, config?.options));
  }
};

type FlagOptions = NonNullable<Parameters<typeof parseArgs>[0]>['options'];

/** `-5`, `-0.5`, `-.5`, `-Infinity`: what reads as a negative number, never as a flag here. */
const NEGATIVE_NUMBER = /^-(?:\d|\.\d|Infinity$)/;

/**
 * `argv` with each negative number that follows a flag taking a value joined to it:
 * `--idle-timeout-ms -5` becomes `--idle-timeout-ms=-5`. parseArgs refuses the first as
 * ambiguous (`-5` might be a flag) and tells the user to write the second, which reads as a
 * flag of ours never does (no flag here is a digit); joined, the value reaches its own check,
 * which names its range, as docs/reference-server.md promises. `origin[i]` is the index in `argv` of the
 * i-th argument returned, for a message that names an argument's place.
 */
function negativeValuesJoined(
  argv: readonly string[],
  options: FlagOptions = {},
): { args: string[]; origin: number[] } {
  const args: string[] = [];
  const origin: number[] = [];
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i] as string;
    const next = argv[i + 1];
    const long = arg.startsWith('--') && !arg.includes('=') ? arg.slice(2) : undefined;
    const short: string | undefined = /^-[^-]$/.test(arg)
      ? Object.keys(options).find((name) => options[name]?.short === arg[1])
      : undefined;
    const name = long ?? short;
    args.push(arg);
    origin.push(i);
    if (arg === '--') {
      // Past the terminator, every argument is a positional, as parseArgs reads it.
      args.push(...argv.slice(i + 1));
      origin.push(...argv.slice(i + 1).map((_, j) => i + 1 + j));
      break;
    }
    if (
      name !== undefined &&
      options[name]?.type === 'string' &&
      next !== undefined &&
      NEGATIVE_NUMBER.test(next)
    ) {
      args[args.length - 1] = `--${name}=${next}`;
      i += 1;
    }
  }
  return { args, origin };
}

/**
 * The message for a stray argument, which names its place and never the argument: it is
 * often half of a secret (a token with a space left unquoted, a Redis URL whose flag was
 * forgotten), and parseArgs's own message quoted it to stderr, so to the logs. `given` is the
 * command line as negativeValuesJoined returns it; the place is said in the one the user typed.
 */
function strayArgument(given: { args: string[]; origin: number[] }, options: FlagOptions = {}): string {
  const { tokens } = parseArgs({
    args: given.args,
    strict: false,
    allowPositionals: true,
    options,
    tokens: true,
  });
  const stray = tokens.find((token) => token.kind === 'positional');
  const index = stray?.index ?? 0;
  // The option whose value ends just before it: `--dashboard-token Sup3r SecretPW`.
  const before = tokens.find(
    (token) =>
      token.kind === 'option' &&
      token.value !== undefined &&
      token.index + (token.inlineValue === true ? 1 : 2) === index,
  );
  const after = before?.kind === 'option' ? `, after the value of ${before.rawName}` : '';
  return (
    `unexpected argument ${(given.origin[index] ?? index) + 1}${after} (not shown: it may be a secret): ` +
    'this command takes no positional arguments; quote a value that has spaces'
  );
}

/**
 * A number as people write one: digits, a minus sign before them, a decimal point between
 * them (spaces around it are dropped). Number() also reads `0x50` (80), `1e3`, `+80`, `0b1`
 * and `0o7`: a value nobody means as 80 or 1000 in a flag or a unit file, so refused.
 */
const DECIMAL = /^-?(?:\d+(?:\.\d+)?|\.\d+)$/;
const DIGITS = /^-?\d+$/;

/** `raw` as Number() reads it. @throws {ConfigError} naming the setting when that is no finite number */
function finite(name: string, raw: string): number {
  const value = raw.trim() === '' ? Number.NaN : Number(raw);
  if (!Number.isFinite(value)) throw new ConfigError(`${name} must be a number, got ${JSON.stringify(raw)}`);
  return value;
}

/**
 * `raw` as a number, written in decimal.
 * @param name how the message names the setting: `--port`, or `PORT (--port)` from the environment
 * @throws {ConfigError} naming it when `raw` is not a number, or is one written otherwise (`0x50`, `1e3`)
 */
export function toNumber(name: string, raw: string): number {
  const value = finite(name, raw);
  if (!DECIMAL.test(raw.trim())) {
    throw new ConfigError(
      `${name} must be a number written in decimal (such as 0.7), got ${JSON.stringify(raw)}`,
    );
  }
  return value;
}

/**
 * `raw` as a setting in whole numbers (a port, milliseconds, a count), written in decimal digits.
 * A fraction such as 1.5 is returned, for the option's own check to refuse with its range;
 * one that reads as a whole number (`80.0`) would pass that check as 80, so it is refused here.
 * @throws {ConfigError} as toNumber, and for a whole number written with a point
 */
export function toInteger(name: string, raw: string): number {
  const value = finite(name, raw);
  const text = raw.trim();
  if (!DECIMAL.test(text) || (Number.isInteger(value) && !DIGITS.test(text))) {
    throw new ConfigError(`${name} must be an integer in decimal digits, got ${JSON.stringify(raw)}`);
  }
  return value;
}

/**
 * `raw` as a port: an integer from 0 to 65535, said by the setting's name (listen() would
 * refuse a bad one as `options.port`, which names no flag).
 * @throws {ConfigError} as toInteger, and for a port out of range
 */
export function toPort(name: string, raw: string): number {
  const port = toInteger(name, raw);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new ConfigError(`${name} must be an integer from 0 to 65535, got ${JSON.stringify(raw)}`);
  }
  return port;
}

/**
 * Ends an example whose server cannot listen (its port taken: the docs'
 * commands all say --port 8080) with one line and exit 2, as the reference
 * server does, not with Node's stack trace of an unhandled 'error'.
 */
export function cannotListen(error: Error): never {
  console.error(`error: cannot listen: ${error.message}`);
  process.exit(2);
}

/** Calls cannotListen for an error of `server` until it listens: a later error is not that one. */
export function exitIfCannotListen(server: Server): void {
  server.once('error', cannotListen).once('listening', () => server.off('error', cannotListen));
}

/** Prints `message` and the usage on stderr, as every program here reports a bad command line. */
export function printUsageError(usage: string, message: string): void {
  console.error(`error: ${message}\n\n${usage}`);
}

/** Ends the program: `message`, then the usage, on stderr; exit status 2. */
export function usageError(usage: string, message: string): never {
  printUsageError(usage, message);
  process.exit(2);
}

/** A command line read by readCommandLine. */
export interface CommandLine<T extends { values: object }> {
  values: T['values'];
  positionals: string[];
  /**
   * The flag `--name` as a number, or `fallback` when it is absent; not a
   * finite number of at least `min` (default 1) ends the program as a usage error.
   */
  number(name: string, fallback?: number, min?: number): number;
}

/**
 * Runs `parse` (a `parseArgs` call whose options include
 * `help: { type: 'boolean', short: 'h' }`): prints `usage` and exits 0 on
 * `--help`, turns a parse error into a usage error (exit 2).
 */
export function readCommandLine<T extends { values: { help?: boolean | undefined }; positionals?: string[] }>(
  usage: string,
  parse: () => T,
): CommandLine<T> {
  let parsed: T;
  try {
    parsed = parse();
  } catch (error) {
    usageError(usage, error instanceof Error ? error.message : String(error));
  }
  if (parsed.values.help === true) {
    console.log(usage);
    process.exit(0);
  }
  const values = parsed.values as Record<string, unknown>;
  return {
    values: parsed.values,
    positionals: parsed.positionals ?? [],
    number(name, fallback, min = 1) {
      const text = values[name];
      if (text === undefined) {
        if (fallback === undefined) usageError(usage, `--${name} is required`);
        return fallback;
      }
      const value = Number(text);
      if (typeof text !== 'string' || text.trim() === '' || !Number.isFinite(value) || value < min) {
        usageError(usage, `--${name} must be a number ≥ ${min}, not "${String(text)}"`);
      }
      return value;
    },
  };
}

/** How an example describes its command line; `--port` and `--help` come with every one. */
export interface ExampleCommandLine<N extends string> {
  /** Its npm script, e.g. `example:embedding`. */
  script: string;
  /** What it does and where to connect, in a line or two. */
  about: string;
  /** Its own flags: `{ redis: ['<url>', 'the Redis to share'] }`. */
  flags?: Record<N, readonly [value: string, help: string]>;
  /** The environment variable that gives `--port` when the flag is absent, e.g. `PORT`. */
  portVariable?: string;
}

/** An example's usage text, as --help prints it. */
export function exampleUsage<N extends string>(spec: ExampleCommandLine<N>): string {
  const own = Object.entries<readonly [string, string]>(spec.flags ?? {});
  const variable = spec.portVariable === undefined ? '' : ` [${spec.portVariable}]`;
  const lines = [
    ['--port <n>', `port, 0 for any free port${variable} (default 0)`],
    ...own.map(([name, [value, help]]) => [`--${name} ${value}`, help]),
    ['-h, --help', 'show this help'],
  ] as const;
  const width = Math.max(...lines.map(([flag]) => flag.length)) + 2;
  return (
    `Usage: npm run ${spec.script} -- [options]\n\n${spec.about}\n\nOptions:\n` +
    lines.map(([flag, help]) => `  ${flag.padEnd(width)}${help}`).join('\n')
  );
}

/**
 * A flag whose value the library refused (its InvalidOptionError, e.g. a
 * `--redis` that is no Redis URL): its message and the usage on stderr, and
 * exit 2, as for a flag the command line refused.
 */
export function exitWithFlagError<N extends string>(
  spec: ExampleCommandLine<N>,
  flag: string,
  error: { allowed: string; received: unknown },
): never {
  usageError(exampleUsage(spec), `${flag}: expected ${error.allowed}, got ${String(error.received)}`);
}

/**
 * An example's flags: `--port` as a port number, and the example's own as
 * strings. On `--help` it prints the usage and exits 0; on a bad command
 * line, the message and the usage on stderr, and exits 2. Called before the
 * example opens anything, so exiting there leaves nothing behind.
 */
export function readExampleFlags<N extends string = never>(
  spec: ExampleCommandLine<N>,
  argv: string[] = process.argv.slice(2),
  env: NodeJS.ProcessEnv = process.env,
): { port: number } & Partial<Record<N, string>> {
  const own = Object.entries<readonly [string, string]>(spec.flags ?? {});
  const usage = exampleUsage(spec);
  const { values } = readCommandLine(usage, () => {
    const { help, values } = parseFlags(argv, ['port', ...own.map(([name]) => name as N)]);
    return { values: { ...values, help } };
  });
  const fromEnv = values.port === undefined ? spec.portVariable : undefined;
  const raw = values.port ?? (fromEnv === undefined ? undefined : env[fromEnv]) ?? '0';
  // Named as the reference server names a setting read from the environment (config.ts).
  const name = fromEnv !== undefined && env[fromEnv] !== undefined ? `${fromEnv} (--port)` : '--port';
  let port: number;
  try {
    port = toPort(name, raw);
  } catch (error) {
    usageError(usage, (error as ConfigError).message);
  }
  const { help: _help, ...given } = values;
  return { ...(given as Partial<Record<N, string>>), port };
}
