/**
 * createDashboard's `onError` written as an async function (a logger that awaits a transport)
 * that rejects: the dashboard must not leave that rejection unhandled, which ends a Node
 * process by default. It is told of a failing `authorize` and of a mount that never reaches
 * basePath; the request is answered all the same.
 */
import { createServer } from 'node:http';
import { expect, it, onTestFinished } from 'vitest';
import { createDashboard } from '../../src/dashboard/index.js';
import { startRulesServer } from '../helpers/rules.js';
import { closeServer, listenOnLoopback } from '../helpers/server.js';

it('an onError that rejects: the request is answered 500 and no rejection is left unhandled', async () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  onTestFinished(() => void process.off('unhandledRejection', onUnhandled));

  const t = await startRulesServer();
  const told: unknown[] = [];
  const dashboard = createDashboard(t.supervisor, {
    authorize: () => {
      throw new Error('the token service is down');
    },
    onError: async (error) => {
      told.push(error);
      throw new Error('the log transport is down too');
    },
  });
  onTestFinished(() => dashboard.close());
  const server = createServer((request, response) => dashboard(request, response));
  const port = await listenOnLoopback(server);
  onTestFinished(() => closeServer(server));

  const response = await fetch(`http://127.0.0.1:${port}/dashboard`);
  expect(response.status).toBe(500);
  await response.arrayBuffer();
  expect(told).toHaveLength(1);
  // An unhandled rejection is reported after the microtasks of its turn: give it a few turns.
  for (let i = 0; i < 5; i += 1) await new Promise((resolve) => setImmediate(resolve));
  expect(unhandled).toEqual([]);
});
