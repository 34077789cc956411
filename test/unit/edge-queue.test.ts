/**
 * EdgeQueue (src/cluster/edge-queue.ts) alone: edges whose calls the test answers one by one.
 * At most one edge of a connection in flight (two could reach the store in either order after
 * a failover), at most a window per failure domain, and at most the cap over all of them, with
 * every lane served in turn.
 */
import { expect, it } from 'vitest';
import { EdgeQueue, type QueuedEdge } from '../../src/cluster/edge-queue.js';

/** Edges that record their calls and are answered when the test says. */
function recorder() {
  const inFlight: { connectionId: string; name: string; domain: string; answer: () => Promise<void> }[] = [];
  const sent: string[] = [];
  const dropped: string[] = [];
  let most = 0;
  const perConnectionMost = new Map<string, number>();
  const edge = (connectionId: string, name: string, domain = ''): QueuedEdge => ({
    run: () =>
      new Promise<void>((resolve) => {
        sent.push(name);
        inFlight.push({
          connectionId,
          name,
          domain,
          answer: async () => {
            resolve();
            // The queue's own bookkeeping runs in the call's finally: a few ticks.
            for (let i = 0; i < 3; i++) await Promise.resolve();
          },
        });
        most = Math.max(most, inFlight.length);
        const mine = inFlight.filter((call) => call.connectionId === connectionId).length;
        perConnectionMost.set(connectionId, Math.max(perConnectionMost.get(connectionId) ?? 0, mine));
      }),
    dropped: () => dropped.push(name),
  });
  /** Answers the call at `index` of those in flight (the oldest by default). */
  const answer = async (index = 0) => {
    const [call] = inFlight.splice(index, 1);
    if (call === undefined) throw new Error('nothing in flight');
    await call.answer();
  };
  return { edge, inFlight, sent, dropped, answer, most: () => most, perConnectionMost };
}

it('two edges of one connection are never in flight together: the next waits for the answer, in its place, and is still replaced', async () => {
  const queue = new EdgeQueue(10);
  const { edge, inFlight, sent, dropped, answer, perConnectionMost } = recorder();
  queue.push('c1', edge('c1', 'idle-1'), true);
  queue.push('c2', edge('c2', 'c2-idle'), true);
  // The window has room, but c1's idle edge is not answered yet.
  queue.push('c1', edge('c1', 'live-1'), false);
  expect(sent).toEqual(['idle-1', 'c2-idle']);
  expect([queue.inFlight, queue.waiting]).toEqual([2, 1]);
  // Coalesced while it waits for the answer: a newer live edge takes its place.
  queue.push('c1', edge('c1', 'live-2'), false);
  expect(dropped).toEqual(['live-1']);
  expect([queue.inFlight, queue.waiting]).toEqual([2, 1]);
  // An idle edge behind it (a live edge never replaces an idle one, the idle one queues behind a live).
  queue.push('c1', edge('c1', 'idle-2'), true);
  expect(dropped).toEqual(['live-1', 'live-2']);
  expect([queue.inFlight, queue.waiting]).toEqual([2, 1]);
  queue.push('c1', edge('c1', 'live-3'), false);
  expect([queue.inFlight, queue.waiting]).toEqual([2, 2]);

  // Answered: the next of c1 goes out at once, then the one after it once that one is answered.
  await answer(inFlight.findIndex((call) => call.name === 'idle-1'));
  expect(sent).toEqual(['idle-1', 'c2-idle', 'idle-2']);
  expect([queue.inFlight, queue.waiting]).toEqual([2, 1]);
  await answer(inFlight.findIndex((call) => call.name === 'idle-2'));
  expect(sent).toEqual(['idle-1', 'c2-idle', 'idle-2', 'live-3']);
  while (inFlight.length > 0) await answer();
  expect([queue.inFlight, queue.waiting]).toEqual([0, 0]);
  expect(Math.max(...perConnectionMost.values())).toBe(1);
});

it('many connections, edges pushed while others are answered: never two of a connection in flight, each in the order pushed, waiting counted right', async () => {
  const queue = new EdgeQueue(4);
  const { edge, inFlight, sent, dropped, answer, perConnectionMost } = recorder();
  let pushes = 0;
  let seed = 7;
  const random = (n: number) => {
    seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
    return seed % n;
  };
  const pushed = new Map<string, string[]>();
  for (let step = 0; step < 2_000; step++) {
    if (random(3) > 0 || inFlight.length === 0) {
      const connectionId = `c${random(12)}`;
      const judges = random(2) === 0;
      const name = `${connectionId}:${step}:${judges ? 'idle' : 'live'}`;
      pushed.set(connectionId, [...(pushed.get(connectionId) ?? []), name]);
      queue.push(connectionId, edge(connectionId, name, `d${random(3)}`), judges, () => `d${random(3)}`);
      pushes += 1;
    } else await answer(random(inFlight.length));
    expect(queue.inFlight).toBe(inFlight.length);
    expect(queue.waiting).toBe(pushes - sent.length - dropped.length);
    expect(queue.inFlight).toBeLessThanOrEqual(8);
  }
  while (inFlight.length > 0 || queue.waiting > 0) await answer(random(inFlight.length));
  expect(Math.max(...perConnectionMost.values())).toBe(1);
  // Sent in the order pushed (some replaced), and each connection's newest edge sent last.
  for (const [connectionId, names] of pushed) {
    const mine = sent.filter((name) => name.startsWith(`${connectionId}:`));
    expect(mine).toEqual(names.filter((name) => mine.includes(name)));
    expect(mine.at(-1)).toBe(names.at(-1));
  }
});

it('several failure domains: at most a window each, twice a window in all, and a slow one starves none of the others', async () => {
  const window = 3;
  const queue = new EdgeQueue(window);
  const { edge, inFlight, sent, answer, most } = recorder();
  const domains = ['A', 'B', 'C', 'D'];
  for (const domain of domains)
    for (let i = 0; i < 20; i++)
      queue.push(`${domain}${i}`, edge(`${domain}${i}`, `${domain}${i}`, domain), true, () => domain);
  const byDomain = () =>
    Object.fromEntries(domains.map((d) => [d, inFlight.filter((call) => call.domain === d).length]));
  expect(queue.inFlight).toBe(2 * window);
  expect(byDomain()).toEqual({ A: 3, B: 3, C: 0, D: 0 });

  // A is slow (never answers here); B, C and D answered as they come: they take turns in the other window.
  const answeredOthers: string[] = [];
  while (sent.filter((name) => name[0] !== 'A').length < 60 || inFlight.some((call) => call.domain !== 'A')) {
    const index = inFlight.findIndex((call) => call.domain !== 'A');
    answeredOthers.push(inFlight[index]?.domain as string);
    await answer(index);
    expect(queue.inFlight).toBeLessThanOrEqual(2 * window);
    for (const count of Object.values(byDomain())) expect(count).toBeLessThanOrEqual(window);
  }
  expect(byDomain()).toEqual({ A: 3, B: 0, C: 0, D: 0 });
  expect(sent.filter((name) => name[0] !== 'A')).toHaveLength(60);
  // C and D were not held until B was done: each had its edges answered among B's.
  const firstB = answeredOthers.lastIndexOf('B');
  expect(answeredOthers.indexOf('C')).toBeLessThan(firstB);
  expect(answeredOthers.indexOf('D')).toBeLessThan(firstB);
  // A's own still go out, a window at a time.
  while (inFlight.length > 0) await answer();
  expect(sent).toHaveLength(80);
  expect(most()).toBe(2 * window);
  expect([queue.inFlight, queue.waiting]).toEqual([0, 0]);
});

it("a connection's failure domain is asked only when its edge needs a lane", () => {
  const queue = new EdgeQueue(1);
  const { edge } = recorder();
  let asked = 0;
  const domain = () => {
    asked += 1;
    return 'A';
  };
  queue.push('c0', edge('c0', 'c0'), true, domain);
  queue.push('c1', edge('c1', 'idle'), true, domain);
  expect(asked).toBe(2);
  // c1's idle edge waits: its next edges keep its lane, coalesced or not.
  queue.push('c1', edge('c1', 'live'), false, domain);
  queue.push('c1', edge('c1', 'live-2'), false, domain);
  queue.push('c1', edge('c1', 'idle-2'), true, domain);
  expect(asked).toBe(2);
  // A throw names the store's one domain (the edge's own call reports it).
  queue.push('c2', edge('c2', 'c2'), true, () => {
    throw new Error('shardOf');
  });
  expect([queue.inFlight, queue.waiting]).toEqual([2, 1]);
  queue.clear();
});

it('a lane with a parked edge is kept until that edge is sent or dropped, and let go then', async () => {
  const queue = new EdgeQueue(10);
  const { edge, sent, dropped, answer } = recorder();
  // c1's idle edge in flight on A; its next edge (its user moved to B meanwhile) parked on B.
  queue.push('c1', edge('c1', 'c1-A', 'A'), true, () => 'A');
  queue.push('c1', edge('c1', 'c1-B', 'B'), true, () => 'B');
  expect(sent).toEqual(['c1-A']);
  expect([queue.inFlight, queue.waiting, queue.lanes]).toEqual([1, 1, 2]);
  // Released: its parked edge is dropped, and B, with nothing left, is let go at once.
  queue.forget('c1');
  expect(dropped).toEqual(['c1-B']);
  expect([queue.inFlight, queue.waiting, queue.lanes]).toEqual([1, 0, 1]);
  await answer();
  expect(sent).toEqual(['c1-A']);
  expect([queue.inFlight, queue.waiting, queue.lanes]).toEqual([0, 0, 0]);
});

it("a parked edge keeps its lane: a domain's new edges join it, and the window holds once the parked edge is ready", async () => {
  const queue = new EdgeQueue(1);
  const { edge, inFlight, sent, answer } = recorder();
  queue.push('c1', edge('c1', 'c1-A', 'A'), true, () => 'A');
  queue.push('c1', edge('c1', 'c1-B', 'B'), true, () => 'B');
  // B has nothing in flight, only c1's parked edge: c2's edge is sent from the same lane.
  queue.push('c2', edge('c2', 'c2-B', 'B'), true, () => 'B');
  expect(sent).toEqual(['c1-A', 'c2-B']);
  expect(queue.lanes).toBe(2);
  const onB = () => inFlight.filter((call) => call.domain === 'B').length;
  // c1's answer makes its parked edge ready on B, which still has c2's in flight: it waits.
  await answer(inFlight.findIndex((call) => call.name === 'c1-A'));
  expect(sent).toEqual(['c1-A', 'c2-B']);
  expect(onB()).toBe(1);
  await answer(inFlight.findIndex((call) => call.name === 'c2-B'));
  expect(sent).toEqual(['c1-A', 'c2-B', 'c1-B']);
  expect(onB()).toBe(1);
  await answer();
  expect([queue.inFlight, queue.waiting, queue.lanes]).toEqual([0, 0, 0]);
});

it('two stalled failure domains fill the cap: the others wait until one of those calls ends, then take turns', async () => {
  const window = 3;
  const queue = new EdgeQueue(window);
  const { edge, inFlight, sent, answer } = recorder();
  // t1 and t2: two stalled masters, or one named as two domains by a per-tenant shardOf.
  for (const domain of ['t1', 't2', 'B'])
    for (let i = 0; i < 5; i++)
      queue.push(`${domain}-${i}`, edge(`${domain}-${i}`, `${domain}-${i}`, domain), true, () => domain);
  const byDomain = () =>
    Object.fromEntries(
      ['t1', 't2', 'B'].map((d) => [d, inFlight.filter((call) => call.domain === d).length]),
    );
  expect(byDomain()).toEqual({ t1: 3, t2: 3, B: 0 });
  // One of t1's calls ends (its deadline): B, waiting for the cap, takes its place before t1 has more.
  await answer(inFlight.findIndex((call) => call.domain === 't1'));
  expect(byDomain()).toEqual({ t1: 2, t2: 3, B: 1 });
  // B's answer gives its place to B's next (t1 queued for the cap behind it).
  await answer(inFlight.findIndex((call) => call.domain === 'B'));
  expect(byDomain()).toEqual({ t1: 2, t2: 3, B: 1 });
  expect(sent.filter((name) => name.startsWith('B'))).toEqual(['B-0', 'B-1']);
  // A place t2's call leaves goes to t1, queued before t2: the lanes take turns.
  await answer(inFlight.findIndex((call) => call.domain === 't2'));
  expect(byDomain()).toEqual({ t1: 3, t2: 2, B: 1 });
  queue.clear();
});
