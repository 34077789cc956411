/**
 * examples/client.ts, as `npm run example:client` runs it (from dist/): its
 * client connects, gets its echo, is evicted as idle (4001) and then waits
 * for activity instead of reconnecting, and it stops for good on SIGTERM.
 */
import { expect, it } from 'vitest';
import { runProgram } from '../helpers/process.js';

it('the client example connects, echoes, is evicted, waits for activity, and stops on SIGTERM', async () => {
  const program = runProgram('dist/examples/client.js');
  await program.waitFor(/listening on ws:\/\/127\.0\.0\.1:\d+/);
  await program.waitFor(/client: open\n/);
  await program.waitFor(/client: got hello\n/);
  await program.waitFor(
    /client: closed 4001 \(evicted\) "evicted: idle", retry after - ms: wait-for-activity\n/,
  );
  await program.waitFor(/client: suspended\n/);
  program.child.kill('SIGTERM');
  expect(await program.exited).toBe(0);
  // Suspended means suspended: no reconnect between the eviction and the end.
  expect(program.output().match(/client: open/g)).toHaveLength(1);
  expect(program.output()).toMatch(/client: closed\n$/);
  // The server's heartbeatMessage is the library's keepalive, not the app's message.
  expect(program.output()).not.toMatch(/client: got hb/);
});
