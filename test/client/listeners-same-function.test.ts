/**
 * The client's on() with the same function twice (README, "Client", State and events; the
 * TSDoc of `Client.on`): as EventTarget's addEventListener, one registration, called once per
 * event, and either remover removes it. Two React components that share a handler and each
 * subscribe it in an effect: the first to unmount unsubscribes the other too. An old remover
 * never removes the function added again after it ran (a cleanup that runs twice), as the
 * supervisor's on(). On a real server on port 0
 * that echoes: each send() is one `message` event.
 */
import { describe, expect, it } from 'vitest';
import { startServer } from '../helpers/server.js';
import { startClient, type TestClient } from './helpers.js';

/** Sends `text` and waits for its echo (a listener of the test's own sees it). */
async function echo(t: TestClient, text: string): Promise<void> {
  const from = t.mark();
  expect(t.client.send(text)).toBe(true);
  await t.next('message', from);
}

describe('client.on() with one function twice', () => {
  it('is one registration, called once per event; either remover removes it, but never a registration made after it', async () => {
    const server = await startServer();
    const t = startClient({ url: server.url('ann') });
    await t.next('open');
    const heard: string[] = [];
    const shared = ({ data }: { data: unknown }) => void heard.push(String(data));

    const offA = t.client.on('message', shared); // component A's effect
    const offB = t.client.on('message', shared); // component B's, the same handler
    await echo(t, 'one');
    expect(heard).toEqual(['one']); // called once, not twice

    offA(); // A unmounts: B's subscription is gone too
    await echo(t, 'two');
    expect(heard).toEqual(['one']);
    offB(); // nothing left to remove

    const offAgain = t.client.on('message', shared); // added again
    offA(); // a stale cleanup that runs twice: not this registration's remover
    offB();
    await echo(t, 'three');
    expect(heard).toEqual(['one', 'three']);
    offAgain();

    // Two functions (one per subscriber) are two registrations, removed one at a time.
    const offC = t.client.on('message', (event) => shared(event));
    t.client.on('message', (event) => shared(event));
    await echo(t, 'four');
    expect(heard).toEqual(['one', 'three', 'four', 'four']);
    offC();
    await echo(t, 'five');
    expect(heard).toEqual(['one', 'three', 'four', 'four', 'five']);
    t.client.close();
  });
});
