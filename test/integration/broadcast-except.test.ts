/**
 * broadcast(data, { except }): everyone but one connection (Socket.IO's
 * socket.broadcast.emit()), as sendToRoom's `except` leaves one member out,
 * and refused in the same words when it is not a connection id. Real clients
 * on loopback (the rules server echoes what a client sends, so an echo after
 * a send proves nothing else came first). Across processes:
 * test/cluster/cluster-sends.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { WebSocket } from 'ws';
import type { ConnectionHandle } from '../../src/index.js';
import { type Client, type RulesServer, startRulesServer } from '../helpers/rules.js';
import { allDisposed, expectNoLeaks, nextMessage } from '../helpers/server.js';

async function closeAll(t: RulesServer, clients: Client[]): Promise<void> {
  for (const client of clients) client.ws.close();
  await allDisposed(t.supervisor);
  expectNoLeaks(t.supervisor);
}

/** Collects every message the client receives from now on. */
function inbox(ws: WebSocket): string[] {
  const received: string[] = [];
  ws.on('message', (data: Buffer) => received.push(data.toString()));
  return received;
}

/** The echo of 'flush' has come: whatever the server sent the client before it has too. */
async function flush(ws: WebSocket): Promise<void> {
  const echo = nextMessage(ws);
  ws.send('flush');
  expect(await echo).toBe('flush');
}

describe('broadcast(data, { except })', () => {
  it('reaches every open connection but the one `except` names, and counts them', async () => {
    const t = await startRulesServer();
    const [ann, bob, bob2] = [await t.open('ann'), await t.open('bob'), await t.open('bob')];
    const annInbox = inbox(ann.ws);
    const rest = Promise.all([bob, bob2].map((c) => nextMessage(c.ws)));
    expect(t.supervisor.broadcast('not to ann', { except: ann.id })).toBe(2);
    expect(await rest).toEqual(['not to ann', 'not to ann']);

    // Binary too, and with a filter: the filter is not asked about the connection left out.
    const asked: string[] = [];
    const bobGets = nextMessage(bob.ws);
    const filter = (c: ConnectionHandle) => {
      asked.push(c.id);
      return c.userId === 'bob';
    };
    expect(t.supervisor.broadcast(Buffer.from('bytes'), { except: bob2.id, binary: true, filter })).toBe(1);
    expect(await bobGets).toBe('bytes');
    expect(asked.sort()).toEqual([ann.id, bob.id].sort());

    await flush(ann.ws);
    expect(annInbox).toEqual(['flush']);
    await closeAll(t, [ann, bob, bob2]);
  });

  it('an id that is no open connection leaves no one out', async () => {
    const t = await startRulesServer();
    const [ann, bob] = [await t.open('ann'), await t.open('bob')];
    const both = Promise.all([ann, bob].map((c) => nextMessage(c.ws)));
    expect(t.supervisor.broadcast('to both', { except: 'no-such-connection' })).toBe(2);
    expect(await both).toEqual(['to both', 'to both']);
    await closeAll(t, [ann, bob]);
  });

  it.each<[string, (ann: Client) => unknown, RegExp]>([
    ['a number', () => 42, /^broadcast: options\.except must be a connection id \(a string\), got 42$/],
    ['null', () => null, /^broadcast: options\.except must be a connection id \(a string\), got null$/],
    [
      'the connection handle (its id belongs there)',
      (ann) => ann.handle,
      /^broadcast: options\.except must be a connection id \(a string\), got a connection handle: pass connection\.id$/,
    ],
  ])(
    'an except that is %s throws WSSUP_INVALID_ARGUMENT, as sendToRoom’s, and sends nothing',
    async (_what, except, message) => {
      const t = await startRulesServer();
      const ann = await t.open('ann');
      ann.handle.join('lobby');
      const annInbox = inbox(ann.ws);
      const options = { except: except(ann) } as unknown as { except: string };
      const send = () => t.supervisor.broadcast('hi', options);
      expect(send).toThrow(expect.objectContaining({ code: 'WSSUP_INVALID_ARGUMENT' }));
      expect(send).toThrow(message);
      // sendToRoom's, word for word but the method.
      const room = () => t.supervisor.sendToRoom('lobby', 'hi', options);
      expect(room).toThrow(new RegExp(message.source.replace('^broadcast', '^sendToRoom')));
      // With cluster: true the same check rejects (here, before the missing cluster option is named).
      await expect(t.supervisor.broadcast('hi', { ...options, cluster: true })).rejects.toThrow(message);
      await flush(ann.ws);
      expect(annInbox).toEqual(['flush']);
      await closeAll(t, [ann]);
    },
  );

  it('an unknown key is refused with a list of the keys that includes except', async () => {
    const t = await startRulesServer();
    const ann = await t.open('ann');
    const misspelt = { exept: ann.id } as unknown as { except: string };
    expect(() => t.supervisor.broadcast('x', misspelt)).toThrow(
      /^broadcast options: unknown key exept, expected one of binary, volatile, except, filter, cluster$/,
    );
    await closeAll(t, [ann]);
  });
});
