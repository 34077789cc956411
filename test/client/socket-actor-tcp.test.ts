/**
 * The socket actor's TCP listener (src/client/socket-actor.ts), alone: a fake ws-like socket
 * whose `upgrade` hands over a fake TCP socket, so that the order of events is the test's, not
 * the loopback's. Under ws with permessage-deflate a message is inflated on a worker thread, and
 * a freeze's messages may still be inflating when the silence check looks a second time: any
 * byte of the TCP socket must then count as heard. silence-thaw.test.ts shows it on a real
 * process, but not every time (its inflation sometimes ends first); this shows it every time.
 */
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { createActor, setup } from 'xstate';
import type { ClientEvent } from '../../machines/index.js';
import { resolveClientOptions } from '../../src/client/options.js';
import { createSocketActor } from '../../src/client/socket-actor.js';
import { FakeWsSocket } from '../helpers/fake-ws-socket.js';

/** ws's WebSocket as the actor sees it: the DOM-style listeners, and the EventEmitter side. */
class FakeWebSocket extends FakeWsSocket {
  static made: FakeWebSocket[] = [];
  constructor(url: string) {
    super(url);
    FakeWebSocket.made.push(this);
  }
  send(): void {}
  close(): void {
    this.readyState = 2;
  }
  terminate(): void {
    this.readyState = 3;
  }
  /** The server's 101, with its TCP socket, as ws emits it (before `open`). */
  upgrade(tcp: EventEmitter): void {
    this.emit('upgrade', { socket: tcp });
  }
  open(): void {
    this.readyState = 1;
    for (const listener of this.domListeners.get('open') ?? []) listener();
  }
  message(data: unknown): void {
    for (const listener of this.domListeners.get('message') ?? []) listener({ data });
  }
}

/** The actor, invoked by a machine that records what it sends back; the hooks count `heard`. */
function startSocketActor(silenceTimeoutMs: number | undefined) {
  FakeWebSocket.made = [];
  const resolved = resolveClientOptions({
    url: 'ws://127.0.0.1:1/',
    WebSocket: FakeWebSocket as never,
    // Without one, a heartbeatMessage: a client that neither watches nor asks for the server's offer.
    ...(silenceTimeoutMs === undefined ? { heartbeatMessage: 'hb' } : { silenceTimeoutMs }),
  });
  const counts = { heard: 0, delivered: 0 };
  const socketActor = createSocketActor(
    { ...resolved, url: () => 'ws://127.0.0.1:1/' },
    {
      attach: () => {},
      heard: () => {
        counts.heard += 1;
      },
      deliver: () => {
        counts.delivered += 1;
      },
      fail: () => {},
      errorCode: () => {},
      linger: () => () => {},
    },
  );
  const received: ClientEvent[] = [];
  const parent = setup({
    types: {} as { events: ClientEvent },
    actors: { socket: socketActor },
  }).createMachine({
    invoke: { src: 'socket' },
    on: { '*': { actions: ({ event }) => received.push(event) } },
  });
  const actor = createActor(parent).start();
  const socket = FakeWebSocket.made[0] as FakeWebSocket;
  return { actor, socket, counts, received };
}

describe("the socket actor's TCP listener (ws's `upgrade`)", () => {
  it('with a silence timeout: a byte after the open, before any message, counts as heard; none before the open; removed at the stop', () => {
    const { actor, socket, counts, received } = startSocketActor(1_000);
    const tcp = new EventEmitter();
    socket.upgrade(tcp);
    // Not before the open: a `data` listener then would set the stream flowing before ws reads it.
    expect(tcp.listenerCount('data')).toBe(0);
    tcp.emit('data', Buffer.from([0x81]));
    expect(counts.heard).toBe(0);
    socket.open();
    expect(received).toEqual([{ type: 'SOCKET_OPENED' }]);
    expect(counts.heard).toBe(1); // the open itself
    expect(tcp.listenerCount('data')).toBe(1);
    // A compressed message's bytes, read while ws still inflates it: heard, though not delivered.
    tcp.emit('data', Buffer.from([0xc1, 0x05]));
    expect(counts).toEqual({ heard: 2, delivered: 0 });
    tcp.emit('data', Buffer.from([0x00]));
    expect(counts.heard).toBe(3);
    socket.message('hello');
    expect(counts).toEqual({ heard: 4, delivered: 1 });
    actor.stop();
    expect(tcp.listenerCount('data')).toBe(0);
    expect(socket.listenerCount('upgrade')).toBe(0);
    expect(socket.listenerCount('ping')).toBe(0);
    tcp.emit('data', Buffer.from([0x88]));
    expect(counts.heard).toBe(4);
  });

  it('without a silence timeout (nor the offer asked for): no listener on the TCP socket, nor on `upgrade` (nothing reads the clock)', () => {
    const { actor, socket, counts } = startSocketActor(undefined);
    expect(socket.listenerCount('upgrade')).toBe(0);
    const tcp = new EventEmitter();
    socket.upgrade(tcp);
    socket.open();
    expect(tcp.listenerCount('data')).toBe(0);
    tcp.emit('data', Buffer.from([0x81]));
    expect(counts.heard).toBe(1); // the open only
    actor.stop();
    expect(tcp.listenerCount('data')).toBe(0);
  });

  it('an `upgrade` without a usable TCP socket is ignored', () => {
    const { actor, socket, counts } = startSocketActor(1_000);
    socket.emit('upgrade', {});
    socket.emit('upgrade', { socket: { on: 'no' } });
    socket.open();
    expect(counts.heard).toBe(1);
    actor.stop();
  });
});
