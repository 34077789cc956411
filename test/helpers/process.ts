/** Runs a built program as its own process, the way a user runs it. */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { afterThisTest } from './test-scope.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

export interface RunningProgram {
  child: ChildProcessWithoutNullStreams;
  /** Everything printed so far on stdout and stderr. */
  output(): string;
  /** What was printed so far on stderr alone. */
  errorOutput(): string;
  /**
   * Sends a signal to the program's whole process group, as a terminal's
   * Ctrl-C does (only with `{ group: true }`).
   */
  signalGroup(signal: NodeJS.Signals): void;
  /** Resolves with the first match of `pattern` in the output. */
  waitFor(pattern: RegExp): Promise<RegExpMatchArray>;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
}

/** Starts `node <script> ...args` from the package root; `script` is relative to it (e.g. dist/...). */
export interface RunOptions {
  /** Runs it in a process group of its own (`detached`), so that signalGroup() reaches all of it. */
  group?: boolean;
}

export function runProgram(
  script: string,
  args: string[] = [],
  env: NodeJS.ProcessEnv = {},
  options: RunOptions = {},
): RunningProgram {
  if (!existsSync(`${root}${script}`)) {
    throw new Error(`${script} is missing: run "npm run build" first (npm test does)`);
  }
  return runCommand(process.execPath, [script, ...args], env, options);
}

/** Starts any command from the package root (e.g. `npm start`). */
export function runCommand(
  command: string,
  args: string[] = [],
  env: NodeJS.ProcessEnv = {},
  options: RunOptions = {},
): RunningProgram {
  const group = options.group === true;
  const child = spawn(command, args, { cwd: root, env: { ...process.env, ...env }, detached: group });
  const signalGroup = (signal: NodeJS.Signals) => {
    if (!group || child.pid === undefined)
      throw new Error('signalGroup() needs runCommand(..., { group: true })');
    process.kill(-child.pid, signal);
  };
  afterThisTest(() => {
    if (child.exitCode === null && child.signalCode === null) {
      if (group) {
        try {
          signalGroup('SIGKILL'); // npm's child too
        } catch {
          // the group is already gone
        }
      } else child.kill('SIGKILL');
    }
    // A bug the runtime caught in the program (an action of ours that threw) goes to its
    // onError, which prints it, and changes nothing else a test sees.
    const internal = text.split('\n').filter((line) => line.includes('WSSUP_INTERNAL'));
    expect(internal, `${command} ${args.join(' ')} reported WSSUP_INTERNAL`).toEqual([]);
  });
  let text = '';
  let errorText = '';
  const watchers = new Set<() => void>();
  const append = (chunk: Buffer) => {
    text += chunk.toString();
    for (const watcher of watchers) watcher();
  };
  child.stdout.on('data', append);
  child.stderr.on('data', (chunk: Buffer) => {
    errorText += chunk.toString();
    append(chunk);
  });
  // 'exit' can come before the last of stdout and stderr is read (Node's docs say so): a
  // program that printed its usage and exited 0 was once seen here with no output at all.
  // 'close' comes after both pipes ended. A grandchild that kept a pipe open would hold
  // 'close' back for as long as it lives, so after 'exit' that wait is bounded.
  const closed = once(child, 'close').catch(() => undefined); // a spawn error rejects `exited`
  const exited = once(child, 'exit').then(async ([code]) => {
    let bound: NodeJS.Timeout | undefined;
    await Promise.race([closed, new Promise((resolve) => (bound = setTimeout(resolve, 5_000)))]);
    clearTimeout(bound);
    return code as number | null;
  });
  return {
    child,
    output: () => text,
    errorOutput: () => errorText,
    signalGroup,
    exited,
    waitFor(pattern) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = text.match(pattern);
          if (match !== null) {
            watchers.delete(check);
            resolve(match);
          }
        };
        watchers.add(check);
        check();
        void exited.then(() => {
          if (watchers.has(check)) reject(new Error(`exited before printing ${pattern}; output:\n${text}`));
        });
      });
    },
  };
}
