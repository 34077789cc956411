import { describe, expect, it } from 'vitest';
import { decodeDelivery } from '../../src/cluster/cluster-sends.js';
import { STORE_FORMAT } from '../../src/cluster/store-format.js';

// What another process's message becomes on this one: a broadcast's `except` (a connection
// id left out) arrives as it was sent, and one that is not a string drops the whole message
// rather than reaching a connection it was meant to skip.
const broadcast = (extra: Record<string, unknown>) => ({
  v: STORE_FORMAT,
  kind: 'broadcast',
  nodeId: 'node-a',
  incarnation: 3,
  text: 'hello',
  ...extra,
});

describe('decodeDelivery: a broadcast with except', () => {
  it('keeps a string except', () => {
    expect(decodeDelivery(broadcast({ except: 'conn-1' }))).toEqual({
      nodeId: 'node-a',
      incarnation: 3,
      delivery: { kind: 'broadcast', data: 'hello', except: 'conn-1' },
    });
  });

  it('reads a broadcast without except as one to everyone (a sender that left its own connection out)', () => {
    expect(decodeDelivery(broadcast({}))?.delivery).toEqual({ kind: 'broadcast', data: 'hello' });
  });

  it.each([5, null, true, { id: 'conn-1' }])('drops a broadcast whose except is %j', (except) => {
    expect(decodeDelivery(broadcast({ except }))).toBeUndefined();
  });
});
