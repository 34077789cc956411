/**
 * ws-supervisor/client in Node, over wss:// to a server whose certificate a CA of your own
 * signed (a private CA, a test server's self-signed certificate): Node trusts only the CAs it
 * knows, so the client's WebSocket is given yours. docs/client.md ("Client") quotes the region
 * below (test/examples/readme-snippets.test.ts); vitest runs it against a real https server
 * with the test certificates of test/fixtures/tls.
 *
 * It imports `ws-supervisor` by name, as your code will: here that resolves to this package's
 * dist/, so build first (as `npm test` does).
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { expect, it, onTestFinished } from 'vitest';
import WebSocket from 'ws';
import { createSupervisor } from 'ws-supervisor';
import { createClient } from 'ws-supervisor/client';

const fixture = (name: string) => new URL(`../test/fixtures/tls/${name}`, import.meta.url);

it('connects over wss:// to a server whose certificate your own CA signed', async () => {
  const server = createServer({
    key: readFileSync(fixture('server.key')),
    cert: readFileSync(fixture('server.crt')),
  });
  const supervisor = createSupervisor({ preset: 'test', authenticate: () => 'ann' });
  supervisor.attach(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onTestFinished(async () => {
    await supervisor.shutdown({ deadlineMs: 200 });
    await new Promise((resolve) => server.close(resolve));
  });
  const url = `wss://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const caFile = fixture('ca.crt');

  // #region client-ca
  // ws's WebSocket, given your CA for wss:// (its third argument is Node's TLS options). `ca`
  // replaces the CAs Node trusts: [...tls.rootCertificates, ca] trusts the public ones as well.
  const ca = readFileSync(caFile);
  class TrustingWebSocket extends WebSocket {
    constructor(url: string | URL, protocols?: string | string[]) {
      super(url, protocols, { ca });
    }
  }
  const client = createClient({ url, WebSocket: TrustingWebSocket });
  // #endregion client-ca
  onTestFinished(() => {
    client.close();
    return client.closed; // the server answers the 1000: on the real clock, a moment
  });

  const { url: opened } = await client.once('open', { signal: AbortSignal.timeout(10_000) });
  expect(opened.startsWith(url)).toBe(true);
  expect(supervisor.stats().connections).toBe(1);
});
