/**
 * The client on Node's own WebSocket (a global since Node 22, undici's): with
 * no `WebSocket` option it takes the global one, as in a browser. On Node 20
 * there is none (options.test.ts covers the message then), so this is skipped.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { SimulatedClock } from 'xstate';
import { type ClientEvents, createClient } from '../../src/client/index.js';
import { allDisposed, expectNoLeaks, startServer } from '../helpers/server.js';

const hasGlobalWebSocket = typeof (globalThis as { WebSocket?: unknown }).WebSocket === 'function';

describe.runIf(hasGlobalWebSocket)('the client on Node’s global WebSocket (Node 22 and later)', () => {
  it('opens, echoes text and binary, and reads a shutdown (1001) from its close frame', async () => {
    const server = await startServer();
    const client = createClient({
      url: server.url('gil'),
      binaryType: 'arraybuffer',
      clock: new SimulatedClock(),
      random: () => 0.5,
    });
    onTestFinished(() => client.close());
    const next = <K extends keyof ClientEvents>(type: K) =>
      new Promise<ClientEvents[K]>((resolve) => {
        const off = client.on(type, ((event: ClientEvents[K]) => {
          off();
          resolve(event);
        }) as never);
      });

    await next('open');
    expect(server.supervisor.userStats('gil')).toMatchObject({ live: 1 });

    let message = next('message');
    client.send('hello');
    expect((await message).data).toBe('hello');
    message = next('message');
    client.send(new Uint8Array([1, 2, 3]));
    expect([...new Uint8Array((await message).data as ArrayBuffer)]).toEqual([1, 2, 3]);

    const closed = next('close');
    await server.supervisor.shutdown({ deadlineMs: 500 });
    expect(await closed).toMatchObject({ code: 1001, kind: 'shutdown' });
    client.close();
    expect(client.state).toBe('closed');
    await allDisposed(server.supervisor);
    expectNoLeaks(server.supervisor);
  });
});
