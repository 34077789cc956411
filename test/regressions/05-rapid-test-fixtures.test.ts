/**
 * Incident mechanism 5: rapid test fixtures at a limit of 5. The staging
 * end-to-end suite opened connections for one test user in every fixture;
 * cleanup lagged behind the fixtures, and the suite failed with "maximum
 * number of WebSocket managers (5)".
 *
 * Here a fixture's sockets are released as the server sees them close, so
 * the next fixture finds the slots free. Replayed as real fixtures, back to
 * back, with the test preset (limit 5), each opening three connections for
 * the same user and tearing them down without waiting, half of them abruptly.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  createSupervisor,
  type RejectedEvent,
  type Supervisor,
  type SupervisorError,
} from '../../src/index.js';
import {
  allDisposed,
  closeServer,
  expectNoInternalErrors,
  expectNoLeaks,
  listenOnLoopback,
  nextMessage,
  userFromQuery,
} from '../helpers/server.js';

const user = 'staging-e2e-user-002';
const server = createServer();
let supervisor: Supervisor;
let port: number;
const rejected: RejectedEvent[] = [];
const errors: SupervisorError[] = [];
let clients: WebSocket[] = [];

async function connect(): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/?user=${user}`);
  await once(ws, 'open');
  return ws;
}

describe('regression: rapid test fixtures at a limit of 5', () => {
  beforeAll(async () => {
    // One server for the whole suite, as a shared staging backend would be.
    supervisor = createSupervisor({
      preset: 'test', // 5 per user
      authenticate: userFromQuery,
      onMessage: (connection, data) => void connection.send(data, { binary: false }),
      onError: (error) => void errors.push(error),
    });
    supervisor.on('rejected', (event) => void rejected.push(event));
    supervisor.attach(server);
    port = await listenOnLoopback(server);
  });

  beforeEach(async () => {
    clients = await Promise.all([1, 2, 3].map(() => connect()));
  });

  afterEach(() => {
    // Teardown does not wait for anything, as fixtures usually do not.
    for (const [i, ws] of clients.entries()) {
      if (i % 2 === 0) ws.terminate();
      else ws.close();
    }
  });

  for (let n = 1; n <= 40; n += 1) {
    it(`fixture ${n} gets its three connections and an echo on each`, async () => {
      const replies = clients.map((ws) => nextMessage(ws));
      for (const ws of clients) ws.send(`fixture ${n}`);
      expect(await Promise.all(replies)).toEqual([`fixture ${n}`, `fixture ${n}`, `fixture ${n}`]);
    });
  }

  afterAll(async () => {
    await allDisposed(supervisor);
    expect(rejected).toEqual([]);
    expectNoLeaks(supervisor);
    await supervisor.shutdown();
    await closeServer(server);
    expectNoInternalErrors(errors);
  });
});
