import { describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import {
  allDisposed,
  closed,
  connect,
  connectRefused,
  expectNoLeaks,
  nextMessage,
  startServer,
} from '../helpers/server.js';

describe('smoke', () => {
  it('echoes, counts, refuses at the limit, and cleans up', async () => {
    // Time stands still (test preset: idle and pings after 1 s): on a loaded
    // machine the steps below can take longer than that, and `a`, quiet since
    // its first echo, would be evicted at T = 4 before the refusal is checked.
    const t = await startServer({ clock: new SimulatedClock() });
    const a = await connect(t.url('alice'));
    a.send('hello');
    expect(await nextMessage(a)).toBe('hello');
    expect(t.supervisor.stats()).toMatchObject({ connections: 1, users: 1, byState: { active: 1 } });
    const more = await Promise.all([1, 2, 3, 4].map(() => connect(t.url('alice'))));
    for (const ws of more) {
      ws.send('x');
      await nextMessage(ws);
    }
    a.send('y');
    await nextMessage(a);
    expect(await connectRefused(t.url('alice'))).toBe(429);
    const done = Promise.all([a, ...more].map((ws) => closed(ws)));
    for (const ws of [a, ...more]) ws.close();
    await done;
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
    expect(t.errors).toEqual([]);
  });
});
