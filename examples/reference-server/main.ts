/**
 * `npm start`: runs the reference server until SIGINT or SIGTERM, then drains
 * every client with 1001 and exits within the drain deadline.
 */
import { pathToFileURL } from 'node:url';
import { InvalidOptionError } from '../../src/index.js';
import { ConfigError, flagFor, readConfig, usage } from './config.js';
import { startReferenceServer } from './server.js';

export async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  let config: ReturnType<typeof readConfig>;
  try {
    config = readConfig(argv, env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`error: ${error.message}\n\n${usage}`);
    return 2;
  }
  if (config === 'help') {
    console.log(usage);
    return 0;
  }
  let server: Awaited<ReturnType<typeof startReferenceServer>>;
  try {
    server = await startReferenceServer(config);
  } catch (error) {
    if (error instanceof InvalidOptionError) {
      console.error(
        `error: ${flagFor(error.option) ?? error.option}: expected ${error.allowed}, got ${String(error.received)}`,
      );
      return 2;
    }
    if (error instanceof RangeError || (error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      console.error(`error: cannot listen: ${(error as Error).message}`);
      return 2;
    }
    throw error;
  }
  // Listen for the signals before announcing the port: a supervisor process
  // may send SIGTERM as soon as it reads the line.
  const stopSignal = new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  const { options } = server.supervisor;
  console.log(`listening on ${server.url}`);
  console.log(
    `preset ${options.preset}: ${options.maxConnectionsPerUser} per user, eviction at ${options.evictionThreshold}, ` +
      `idle ${options.idleTimeoutMs} ms, heartbeat ${options.heartbeatIntervalMs} ms, drain ${options.drainTimeoutMs} ms`,
  );
  const signal = await stopSignal;
  const { connections } = server.supervisor.stats();
  console.log(`${signal}: draining ${connections} connection(s)`);
  await server.close();
  console.log('drained; bye');
  return 0;
}

// Run when executed directly (npm start), not when imported (the CLI, tests).
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main(process.argv.slice(2), process.env);
}
