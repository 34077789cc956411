/**
 * Dashboard abuse against the reference server: 40 concurrent
 * `GET /dashboard/events` streams, half of which never read. The dashboard
 * holds at most 32 (the rest get 503), the server keeps serving WebSockets and
 * /stats meanwhile, and once the streams are closed the dashboard holds no
 * stream, subscription or timer, and the supervisor nothing.
 */
import { get, type IncomingMessage } from 'node:http';
import { expect, it, onTestFinished } from 'vitest';
import { type ReferenceServer, startReferenceServer } from '../../examples/reference-server/server.js';
import { attempt, expectLeakFree, until, within } from '../helpers/adversary.js';
import { touch } from '../helpers/rules.js';
import { connect } from '../helpers/server.js';

const streams = 40;
const maxStreams = 32;

async function startServer(log: string[]): Promise<ReferenceServer> {
  const server = await startReferenceServer(
    {
      host: '127.0.0.1',
      port: 0,
      // Nothing turns idle or needs a pong while the test runs: the counts stay the test's.
      limits: { preset: 'test', idleTimeoutMs: 600_000, heartbeatIntervalMs: 600_000 },
    },
    (line) => log.push(line),
  );
  onTestFinished(() => server.close());
  return server;
}

/** One GET on a connection of its own; resolves with the response once its head is in. */
async function request(port: number, path: string) {
  const sent = get({ host: '127.0.0.1', port, path, agent: false });
  onTestFinished(() => void sent.destroy());
  sent.on('error', () => {}); // destroyed on purpose below
  const response = await within(
    new Promise<IncomingMessage>((resolve) => sent.once('response', resolve)),
    5_000,
    `a response to GET ${path}`,
  );
  return { sent, response };
}

async function body(response: IncomingMessage): Promise<string> {
  response.setEncoding('utf8');
  let text = '';
  for await (const chunk of response) text += chunk;
  return text;
}

it(`${streams} concurrent event streams: ${maxStreams} served, the rest 503, the server keeps serving, closing frees everything`, async () => {
  const log: string[] = [];
  const server = await startServer(log);
  const opened = await Promise.all(
    Array.from({ length: streams }, () => request(server.port, '/dashboard/events')),
  );

  const served = opened.filter(({ response }) => response.statusCode === 200);
  const refused = opened.filter(({ response }) => response.statusCode !== 200);
  expect(served).toHaveLength(maxStreams);
  expect(refused.map(({ response }) => response.statusCode)).toEqual(Array(streams - maxStreams).fill(503));
  for (const { response } of refused) response.resume();
  expect(server.dashboard.resources()).toEqual({ streams: maxStreams, subscribers: 1 }); // every stream shares one feed: one subscription

  // Half the streams never read; the other half collect what they are sent.
  const received: string[] = [];
  served.forEach(({ response }, i) => {
    if (i % 2 === 0) {
      response.pause();
    } else {
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => received.push(chunk));
    }
  });

  // The server keeps serving: WebSocket echo, a storm of refusals, /stats.
  const ws = await connect(`${server.url}/?user=dash`);
  await touch(ws);
  const storm = await Promise.all(Array.from({ length: 12 }, () => attempt(`${server.url}/?user=dash`)));
  expect(storm.filter((outcome) => 'status' in outcome && outcome.status === 429)).toHaveLength(8);
  const stats = await request(server.port, '/stats');
  expect(stats.response.statusCode).toBe(200);
  expect(JSON.parse(await body(stats.response))).toMatchObject({ connections: 5, counters: { rejected: 8 } });
  await until(
    () => received.join('').includes('"kind":"rejected"'),
    'the reading streams to be sent the refusals',
  );

  // Closing the streams frees everything they held.
  for (const { sent } of served) sent.destroy();
  await until(
    () => server.dashboard.resources().streams === 0 && server.dashboard.resources().subscribers === 0,
    'every dashboard stream to end',
    { detail: () => server.dashboard.resources() },
  );
  // ... including their places: a new stream is served again.
  const again = await request(server.port, '/dashboard/events');
  expect(again.response.statusCode).toBe(200);
  again.sent.destroy();
  await until(() => server.dashboard.resources().streams === 0, 'the last stream to end');

  ws.close();
  for (const outcome of storm) if ('opened' in outcome) outcome.opened.close();
  await expectLeakFree(server.supervisor);
  expect(log).toEqual([]);
});
