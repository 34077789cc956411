/**
 * ws-supervisor/client in Node (a service, a CLI, a test), sending an `Authorization` header:
 * a browser's WebSocket cannot, `ws`'s can (its third argument), and a subclass passes a fresh
 * token on every attempt. docs/client.md ("Client") quotes the region below
 * (test/examples/readme-snippets.test.ts); vitest runs it against a real server whose
 * `authenticate` reads the header.
 *
 * It imports `ws-supervisor` by name, as your code will: here that resolves to this package's
 * dist/, so build first (as `npm test` does).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect, it, onTestFinished } from 'vitest';
import WebSocket from 'ws';
import { createSupervisor, Refusal } from 'ws-supervisor';
import { createClient } from 'ws-supervisor/client';

it('sends a fresh Authorization header on every attempt', async () => {
  const seen: string[] = [];
  const supervisor = createSupervisor({
    preset: 'test',
    authenticate: (request) => {
      const header = request.headers.authorization ?? '';
      seen.push(header);
      if (!header.startsWith('Bearer token-')) throw new Refusal(401);
      return 'ann';
    },
  });
  const server = createServer();
  supervisor.attach(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onTestFinished(async () => {
    await supervisor.shutdown({ deadlineMs: 200 });
    await new Promise((resolve) => server.close(resolve));
  });
  const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  let issued = 0;
  const getToken = () => `token-${++issued}`; // your token source: a cache, a refresh

  // #region client-headers
  // ws's WebSocket, given headers (its third argument): the client makes a new one for every
  // attempt, so each reconnect carries a token read then.
  class AuthorizedWebSocket extends WebSocket {
    constructor(url: string | URL, protocols?: string | string[]) {
      super(url, protocols, { headers: { Authorization: `Bearer ${getToken()}` } });
    }
  }
  const client = createClient({ url, WebSocket: AuthorizedWebSocket });
  // #endregion client-headers
  onTestFinished(() => {
    client.close();
    return client.closed;
  });

  await client.once('open', { signal: AbortSignal.timeout(10_000) });
  expect(seen).toEqual(['Bearer token-1']);

  // The server drops the connection (1006): the client's next attempt sends the next token.
  const reopened = client.once('open', { signal: AbortSignal.timeout(10_000) });
  supervisor.connectionsOf('ann')[0]?.socket?.terminate();
  await reopened;
  expect(seen).toEqual(['Bearer token-1', 'Bearer token-2']);
});
