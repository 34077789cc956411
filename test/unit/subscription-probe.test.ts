/**
 * The rules by which a store judges its own subscription (src/cluster/subscription-probe.ts,
 * docs/cluster-store.md "A subscription lost without a word"): two probes in a row that Redis
 * took and that did not come back make a loss; one that came back, or that Redis did not
 * answer, or that probed another subscriber, does not count; NOPERM counts as taken.
 */
import { describe, expect, it } from 'vitest';
import { SubscriptionProbe } from '../../src/cluster/subscription-probe.js';

/** A probe with a publish the test settles: `published` holds each message sent. */
function harness() {
  const probe = new SubscriptionProbe();
  const published: string[] = [];
  const settle: Array<(outcome: 'taken' | 'unanswered' | 'denied') => void> = [];
  const send = (subscriber: object) =>
    probe.send(
      subscriber,
      (message) =>
        new Promise((resolve, reject) => {
          published.push(message);
          settle.push((outcome) =>
            outcome === 'taken'
              ? resolve(1)
              : reject(new Error(outcome === 'denied' ? 'NOPERM no channel' : 'no answer within 300 ms')),
          );
        }),
      (error) => ((error as Error).message.startsWith('NOPERM') ? (error as Error).message : undefined),
    );
  /** Settles the last publish and lets its callbacks run. */
  const answer = async (outcome: 'taken' | 'unanswered' | 'denied') => {
    settle.at(-1)?.(outcome);
    await new Promise((resolve) => setImmediate(resolve));
  };
  return { probe, published, send, answer };
}

describe('SubscriptionProbe', () => {
  it('two probes taken in a row that did not come back make a loss; one alone does not', async () => {
    const { probe, send, answer } = harness();
    const subscriber = {};
    expect(probe.judge(subscriber)).toBeUndefined(); // nothing sent yet
    send(subscriber);
    await answer('taken');
    expect(probe.judge(subscriber)).toBeUndefined();
    send(subscriber);
    await answer('taken');
    expect(probe.judge(subscriber)).toBe('two probes published on it did not come back');
  });

  it('a probe that came back starts the count over', async () => {
    const { probe, published, send, answer } = harness();
    const subscriber = {};
    send(subscriber);
    await answer('taken');
    expect(probe.judge(subscriber)).toBeUndefined(); // one miss
    send(subscriber);
    await answer('taken');
    expect(probe.isProbe(published.at(-1) ?? '')).toBe(true);
    expect(probe.judge(subscriber)).toBeUndefined(); // came back: no miss
    send(subscriber);
    await answer('taken');
    expect(probe.judge(subscriber)).toBeUndefined(); // one miss again, not two
  });

  it('a probe Redis did not answer, or whose answer is still on its way, tells nothing', async () => {
    const { probe, send, answer } = harness();
    const subscriber = {};
    send(subscriber);
    await answer('taken');
    expect(probe.judge(subscriber)).toBeUndefined(); // one miss
    send(subscriber);
    await answer('unanswered');
    expect(probe.judge(subscriber)).toBeUndefined();
    send(subscriber); // in flight when judged
    expect(probe.judge(subscriber)).toBeUndefined();
    send(subscriber);
    await answer('taken');
    expect(probe.judge(subscriber)).toBe('two probes published on it did not come back');
  });

  it('Redis denying the channel (NOPERM) counts as a miss, and the report names it', async () => {
    const { probe, send, answer } = harness();
    const subscriber = {};
    send(subscriber);
    await answer('denied');
    expect(probe.judge(subscriber)).toBeUndefined();
    send(subscriber);
    await answer('denied');
    expect(probe.judge(subscriber)).toBe('Redis denies it: NOPERM no channel');
  });

  it('a probe sent for another subscriber (one opened since) judges nothing', async () => {
    const { probe, send, answer } = harness();
    const before = {};
    const after = {};
    send(before);
    await answer('taken');
    expect(probe.judge(after)).toBeUndefined();
    send(before);
    await answer('taken');
    expect(probe.judge(after)).toBeUndefined();
    send(after);
    await answer('taken');
    expect(probe.judge(after)).toBeUndefined(); // the first miss of this subscriber
  });

  it("another store's probe is a probe (never an order) but does not count as this one's coming back", async () => {
    const mine = harness();
    const theirs = harness();
    const subscriber = {};
    mine.send(subscriber);
    await mine.answer('taken');
    theirs.send({});
    expect(mine.probe.isProbe(theirs.published[0] ?? '')).toBe(true);
    expect(mine.probe.judge(subscriber)).toBeUndefined(); // one miss
    mine.send(subscriber);
    await mine.answer('taken');
    expect(mine.probe.isProbe(theirs.published[0] ?? '')).toBe(true);
    expect(mine.probe.judge(subscriber)).toBe('two probes published on it did not come back');
    expect(mine.probe.isProbe('{"connectionId":"c1","nodeId":"a","incarnation":1}')).toBe(false);
  });

  it('reset() starts the count over', async () => {
    const { probe, send, answer } = harness();
    const subscriber = {};
    send(subscriber);
    await answer('taken');
    expect(probe.judge(subscriber)).toBeUndefined();
    probe.reset();
    send(subscriber);
    await answer('taken');
    expect(probe.judge(subscriber)).toBeUndefined();
  });
});
