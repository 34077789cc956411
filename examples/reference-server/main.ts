/**
 * `npm start`: runs the reference server until SIGINT, SIGTERM or SIGHUP (its
 * terminal closed), then drains every client with 1001 and exits within the
 * drain deadline. The same signal arriving twice at once (Ctrl-C under npm) is
 * one stop; a second one sent later forces the exit (see stop-signals.ts).
 */
import cluster from 'node:cluster';
import { constants as osConstants } from 'node:os';
import { pathToFileURL } from 'node:url';
// The errors alone, not src/index.js: the server and the supervisor are imported once the
// stop signals are watched (below), since importing them is most of the startup.
import { InvalidOptionError, MissingPeerError, SupervisorError } from '../../src/errors.js';
import { ConfigError } from './command-line.js';
import {
  exposureWarning,
  inFlagTerms,
  listenSettings,
  readConfig,
  refusedInFlagTerms,
  type StartedAs,
  settingFor,
  usageFor,
} from './config.js';
import type { ReferenceServer } from './server.js';
import { watchStopSignals } from './stop-signals.js';
import { startupSummary } from './summary.js';

/**
 * A write to stdout or stderr whose reader has gone (`npm start | head -1`, a log shipper that
 * died) fails with EPIPE, which Node reports as an 'error' event of the stream: with no listener,
 * the next line (`SIGTERM: draining …`) crashed the server mid-drain, exit 1. A write to the
 * terminal that was closed (the SIGHUP that stops the server) fails the same way with EIO.
 * Those lines are lost; the server goes on serving and drains as usual. Any other error is
 * thrown, as before.
 */
function ignoreClosedOutput(error: NodeJS.ErrnoException): void {
  if (error.code !== 'EPIPE' && error.code !== 'EIO') throw error;
}

/** The command that prints the usage, as the one started is typed. */
const helpCommand: Record<StartedAs, string> = {
  'npm start': 'npm start -- --help',
  'ws-supervisor serve': 'npx ws-supervisor serve --help',
};

/** @param startedAs the command its usage names: `ws-supervisor serve` (the CLI) or `npm start` */
export async function main(
  argv: string[],
  env: NodeJS.ProcessEnv,
  startedAs: StartedAs = 'npm start',
): Promise<number> {
  const usage = usageFor(startedAs);
  // For the life of the process (the error of a last line comes after main returns); once per stream.
  for (const stream of [process.stdout, process.stderr]) {
    if (!stream.listeners('error').includes(ignoreClosedOutput)) stream.on('error', ignoreClosedOutput);
  }
  let config: ReturnType<typeof readConfig>;
  try {
    config = readConfig(argv, env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    // One line and where the options are: the whole usage (a hundred lines) after each failed start
    // buried the error in a container's log.
    console.error(`error: ${error.message}\nrun \`${helpCommand[startedAs]}\` for the options`);
    return 2;
  }
  if (config === 'help') {
    console.log(usage);
    return 0;
  }
  // Watched from here, before the server is imported and started (most of the startup: a second
  // on a small VM): a SIGTERM sent meanwhile killed the process at once, exit 143 and not a word.
  // It is answered now: the server stops as soon as it has started, and says so.
  let server: ReferenceServer | undefined;
  const signals = watchStopSignals({
    onArmed: (signal) => {
      if (server === undefined) return; // still starting: nothing is draining yet
      console.log(
        `still draining ${server.supervisor.stats().connections} connection(s), terminated at the latest ` +
          `${server.supervisor.options.drainTimeoutMs} ms after ${signal}; send ${signal} again to stop now`,
      );
    },
    onForce: (signal) => {
      // A deliberate second signal, not a copy of the first (see stop-signals.ts).
      console.error(
        `${signal} again: exiting now without draining ${server?.supervisor.stats().connections ?? 0} connection(s)`,
      );
      process.exit(128 + (osConstants.signals[signal] ?? 0));
    },
    onAfterDrain: (signal) => {
      // The drain is over (and said so): the process is only finishing its exit, with the drain's
      // own code (0), set as main returned. Nothing is left to stop, so nothing is forced at once:
      // a process.exit() here could lose this line and the ones before it, still pending in a
      // pm2 cluster worker (see src/cli.ts). But this listener stays for the process's life, so
      // the signal's default action is gone: whatever still held the process (a timer of an
      // --import'ed module, a handle of the app's) left it running for good, and only SIGKILL
      // stopped it. A second later it exits, with the drain's code; an unref'd timer, so a
      // process that ends sooner (as a drained one does) ends as it always did.
      process.exitCode ??= 0;
      console.log(`${signal} again: already drained; exiting`);
      setTimeout(() => process.exit(process.exitCode ?? 0), 1000).unref();
    },
  });
  void signals.first.then((signal) => {
    if (server === undefined) console.log(`${signal} before listening: stopping once started`);
  });
  const { ListenError, startReferenceServer } = await import('./server.js');
  try {
    server = await startReferenceServer(config);
  } catch (error) {
    signals.dispose();
    if (error instanceof InvalidOptionError) {
      console.error(
        `error: ${settingFor(error.option, argv, env) ?? error.option}: expected ${inFlagTerms(error.allowed)}, got ${refusedInFlagTerms(error)}`,
      );
      return 2;
    }
    if (error instanceof ListenError) {
      console.error(`error: cannot listen: ${error.message} (${listenSettings(config, argv, env)})`);
      return 2;
    }
    // --redis without `npm install redis`: the flags are right, the install is not (1, as `chart` does).
    // …or with a redis it cannot run on (node-redis 4): the same, one line and 1.
    if (
      error instanceof MissingPeerError ||
      (error instanceof SupervisorError && error.code === 'WSSUP_UNSUPPORTED_PEER')
    ) {
      console.error(`error: ${error.message}`);
      return 1;
    }
    throw error;
  }
  const early = signals.received();
  if (early !== undefined) {
    // Stopped while starting: never announced, so no client was sent here; close what started.
    await server.close();
    signals.drained();
    console.log(`${early}: stopped before listening; bye`);
    return 0;
  }
  console.log(`listening on ${server.url}`);
  for (const line of startupSummary(server.supervisor.options, config)) console.log(line);
  const warning = exposureWarning(config);
  if (warning !== undefined) console.error(warning);
  const signal = await signals.first;
  const { connections } = server.supervisor.stats();
  console.log(`${signal}: draining ${connections} connection(s)`);
  // A client that never answers its 1001 is cut off at the drain deadline: say how many were, or
  // "drained; bye" alone read as if every client had left in time. Such a connection is disposed
  // with reason 'shutdown' before its socket said anything (no cleanupMs), and was open: it was
  // sent the 1001 (one still in its handshake was answered 503, or 4503 with --refuse close).
  let terminated = 0;
  server.supervisor.on('disposed', (event) => {
    if (event.reason === 'shutdown' && event.cleanupMs === undefined && event.closeCode === 1001)
      terminated++;
  });
  await server.close();
  signals.drained();
  if (terminated > 0) {
    console.log(
      `${terminated} connection(s) did not close within the drain deadline ` +
        `(${server.supervisor.options.drainTimeoutMs} ms) and were terminated`,
    );
  }
  console.log('drained; bye');
  return 0;
}

// Run when executed directly (npm start), not when imported (the CLI, tests).
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main(process.argv.slice(2), process.env);
  // A node:cluster worker's IPC channel would keep it running after the drain (see src/cli.ts).
  if (cluster.isWorker) cluster.worker?.disconnect();
  else if (process.connected) process.disconnect();
}
