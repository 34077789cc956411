/**
 * The bench programs' command lines. RESULTS.md tells readers to run these
 * programs by hand, so each answers `--help` with its usage, and a flag it
 * does not know or a number that is not one with a one-line message and the
 * usage (exit 2), never a stack trace or a run on NaN.
 */

export interface CommandLine<T extends { values: object }> {
  values: T['values'];
  positionals: string[];
  /**
   * The flag `--name` as a number, or `fallback` when it is absent; not a
   * finite number of at least `min` (default 1) ends the program as a usage error.
   */
  number(name: string, fallback?: number, min?: number): number;
}

/** Ends the program: `message`, then the usage, on stderr; exit status 2. */
export function usageError(usage: string, message: string): never {
  console.error(`${message}\n\n${usage}`);
  process.exit(2);
}

/**
 * Runs `parse` (a `parseArgs` call whose options include
 * `help: { type: 'boolean', short: 'h' }`): prints `usage` and exits 0 on
 * `--help`, turns a parse error into a usage error.
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
