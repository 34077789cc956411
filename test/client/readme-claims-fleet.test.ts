/**
 * README, "Device fleets and other quiet clients": each claim on real sockets (a supervisor or a
 * plain ws server on port 0 over loopback), the client's delays on its SimulatedClock and the
 * server's idle time on its own (a new-user trial's simulated IoT fleet: one device, one user).
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { SimulatedClock } from 'xstate';
import { createClient } from '../../src/client/index.js';
import { Refusal } from '../../src/index.js';
import { allDisposed, connect, expectNoLeaks, startServer } from '../helpers/server.js';
import { expectReleased, startClient, startClosingServer } from './helpers.js';

describe('a device alone at its limit', () => {
  it.each([0.7, 1])(
    'limit 1, evictionThreshold %s: T = 1, so its only connection is evicted (4001) once idle, and the client waits for activity() for ever',
    async (evictionThreshold) => {
      const serverClock = new SimulatedClock();
      const server = await startServer({
        clock: serverClock,
        maxConnectionsPerUser: 1,
        evictionThreshold,
        heartbeatIntervalMs: 1e9,
      });
      const t = startClient({ url: server.url('meter-1') });
      await t.next('open');
      const from = t.mark();
      serverClock.increment(server.supervisor.options.idleTimeoutMs);
      expect(await t.next('close', from)).toMatchObject({
        code: 4001,
        kind: 'evicted',
        next: 'wait-for-activity',
      });
      expect(t.client.state).toBe('suspended');
      t.simulated.increment(24 * 3_600_000); // a day: nothing scheduled, no attempt
      expect(t.clock.pending).toBe(0);
      expect(t.sockets).toHaveLength(1);
      t.client.close();
      await expectReleased(t);
    },
  );

  // T = ceil(threshold × 2) = 2 at the default 0.7 as at 1 (at any threshold above 0.5).
  it.each([0.7, 1])(
    'limit 2 at evictionThreshold %s: T = 2, a lone connection is never evicted, a second one still evicts the idle',
    async (evictionThreshold) => {
      const serverClock = new SimulatedClock();
      const server = await startServer({
        clock: serverClock,
        maxConnectionsPerUser: 2,
        evictionThreshold,
        heartbeatIntervalMs: 1e9,
      });
      const t = startClient({ url: server.url('meter-2') });
      await t.next('open');
      const from = t.mark();
      serverClock.increment(server.supervisor.options.idleTimeoutMs * 100);
      await new Promise((resolve) => setTimeout(resolve, 50)); // an eviction would be on its way
      expect(t.client.state).toBe('open');
      expect(server.supervisor.stats().counters.evicted).toBe(0);
      // A second connection of that device (its ghost's successor, say): n = 2 = T, the idle one goes.
      const second = await connect(server.url('meter-2'));
      expect(await t.next('close', from)).toMatchObject({ code: 4001, kind: 'evicted' });
      expect(second.readyState).toBe(WebSocket.OPEN);
      second.close();
      t.client.close();
      await expectReleased(t);
      await allDisposed(server.supervisor);
      expectNoLeaks(server.supervisor);
    },
  );

  it('limit 1, a device that sends an app message within idleTimeoutMs: never idle, never evicted', async () => {
    const serverClock = new SimulatedClock();
    const server = await startServer({
      clock: serverClock,
      maxConnectionsPerUser: 1,
      heartbeatIntervalMs: 1e9,
    });
    const t = startClient({ url: server.url('meter-3') });
    await t.next('open');
    const { idleTimeoutMs } = server.supervisor.options;
    for (let i = 0; i < 5; i++) {
      const echoed = t.next('message', t.mark());
      t.client.send('reading');
      await echoed; // the server read it: activity on its clock
      serverClock.increment(idleTimeoutMs - 1);
    }
    expect(t.client.state).toBe('open');
    expect(server.supervisor.stats().counters.evicted).toBe(0);
    t.client.close();
    await expectReleased(t);
  });

  it("limit 1, activity 'both' (the default): the server's own app messages keep it live", async () => {
    const serverClock = new SimulatedClock();
    const server = await startServer({
      clock: serverClock,
      maxConnectionsPerUser: 1,
      heartbeatIntervalMs: 1e9,
    });
    const t = startClient({ url: server.url('meter-6') });
    await t.next('open');
    const { idleTimeoutMs } = server.supervisor.options;
    for (let i = 0; i < 5; i++) {
      const pushed = t.next('message', t.mark());
      server.supervisor.sendToUser('meter-6', 'config');
      await pushed;
      serverClock.increment(idleTimeoutMs - 1);
    }
    expect(t.client.state).toBe('open');
    expect(server.supervisor.stats().counters.evicted).toBe(0);
    t.client.close();
    await expectReleased(t);
  });
});

describe('maxAttempts on a flapping device', () => {
  it('connections shorter than stableAfterMs are failures: maxAttempts 3 gives up; without it the device keeps coming back', async () => {
    const server = await startClosingServer({ code: 4000, reason: 'flap' }); // open, then closed at once
    const limited = startClient({ url: server.url, maxAttempts: 3 });
    let from = 0;
    for (let i = 0; i < 2; i++) {
      const { delayMs } = await limited.next('reconnecting', from);
      from = limited.mark();
      limited.simulated.increment(delayMs);
      await limited.next('close', from);
    }
    const closes = limited.events.filter(([type]) => type === 'close').map(([, e]) => e);
    expect(closes.at(-1)).toMatchObject({ opened: true, givenUp: true, next: 'wait-for-resume' });
    expect(limited.client.state).toBe('suspended');

    const unlimited = startClient({ url: server.url });
    from = 0;
    for (let i = 0; i < 5; i++) {
      const { delayMs } = await unlimited.next('reconnecting', from);
      from = unlimited.mark();
      unlimited.simulated.increment(delayMs);
      await unlimited.next('close', from);
    }
    await unlimited.next('reconnecting', from);
    expect(unlimited.client.state).toBe('waiting');
    limited.client.close();
    unlimited.client.close();
    await expectReleased(limited);
    await expectReleased(unlimited);
  });
});

describe('a fleet coming back', () => {
  it('after a crash (1006) the first retry is within the first step: baseMs sized for the fleet spreads it', async () => {
    const server = await startClosingServer({ code: 4000, reason: 'unused' });
    server.server.removeAllListeners('connection');
    server.server.on('connection', (ws) => ws.terminate()); // a killed server: no close frame
    const t = startClient({
      url: server.url,
      backoff: { baseMs: 20_000, capMs: 300_000 },
      random: () => 0.99,
    });
    expect(await t.next('close', 0)).toMatchObject({ code: 1006 });
    expect(await t.next('reconnecting', 0)).toEqual({ delayMs: 19_800, attempt: 1 }); // 0.99 × 20 s
    t.client.close();
    await expectReleased(t);
  });

  it('shed in authenticate with a Refusal and a hint: the devices refused together come back over half the hint after it', async () => {
    const server = await startServer({
      authenticate: () => new Refusal(503, 'overloaded', { retryAfterMs: 10_000 }),
    });
    const delays: number[] = [];
    for (const random of [0, 0.5, 0.999]) {
      const t = startClient({ url: server.url('meter-4'), random: () => random });
      expect(await t.next('close', 0)).toMatchObject({ code: 4503, retryAfterMs: 10_000 });
      delays.push((await t.next('reconnecting', 0)).delayMs);
      t.client.close();
      await expectReleased(t);
    }
    expect(delays).toEqual([10_000, 12_500, 14_995]);
  });
});

describe("a device's instance id", () => {
  it('must be 16 to 64 characters: a device id like meter-00001 is refused; a hash of it is stable and fits', () => {
    expect(() => createClient({ url: 'ws://127.0.0.1:1/', WebSocket, instance: 'meter-00001' })).toThrow(
      expect.objectContaining({ code: 'WSSUP_INVALID_OPTION' }),
    );
    const instanceOf = (deviceId: string) =>
      createHash('sha256').update(deviceId).digest('base64url').slice(0, 32);
    expect(instanceOf('meter-00001')).toBe(instanceOf('meter-00001'));
    expect(instanceOf('meter-00001')).not.toBe(instanceOf('meter-00002'));
    const client = createClient({ url: 'ws://127.0.0.1:1/', WebSocket, instance: instanceOf('meter-00001') });
    expect(client.instance).toBe(instanceOf('meter-00001'));
    client.close();
  });

  it('a rebooted device with its stored id replaces its ghost at once; with a new random id it is refused until the ghost is found dead', async () => {
    const server = await startServer({ clock: new SimulatedClock(), maxConnectionsPerUser: 1 });
    const id = createHash('sha256').update('meter-00005').digest('base64url').slice(0, 32);
    // The device before the reboot: its connection still open at the server, as a dead flow is.
    const ghost = await connect(`${server.url('meter-00005')}&wssup-instance=${id}.${Date.now() - 1_000}`);
    const ghostClosed = once(ghost, 'close');

    const fresh = startClient({ url: server.url('meter-00005') }); // a new random id
    expect(await fresh.next('close', 0)).toMatchObject({ code: 4429, retryAfterMs: 5_000 });
    fresh.client.close();
    await expectReleased(fresh);

    const stored = startClient({ url: server.url('meter-00005'), instance: id });
    await stored.next('open');
    const [code, reason] = (await ghostClosed) as [number, Buffer];
    expect([code, String(reason)]).toEqual([4001, 'evicted: superseded']);
    stored.client.close();
    await expectReleased(stored);
  });
});

describe('capacity alerts at limit 2', () => {
  it("the default levels raise up 0.5 for a device's only connection and down as it leaves", async () => {
    const noisy = await startServer({ maxConnectionsPerUser: 2, heartbeatIntervalMs: 1e9 });
    const alerts: unknown[] = [];
    noisy.supervisor.on('capacity', ({ userId, direction, level, live }) =>
      alerts.push({ userId, direction, level, live }),
    );
    const device = await connect(noisy.url('meter-5'));
    expect(alerts).toEqual([{ userId: 'meter-5', direction: 'up', level: 0.5, live: 1 }]);
    device.close();
    await allDisposed(noisy.supervisor);
    expect(alerts).toHaveLength(2);
    expect(alerts[1]).toMatchObject({ userId: 'meter-5', direction: 'down', level: 0.5, live: 0 });
    expectNoLeaks(noisy.supervisor);
  });

  it('[1] raises only for a second connection, up as it comes and down as it leaves', async () => {
    const quiet = await startServer({
      maxConnectionsPerUser: 2,
      heartbeatIntervalMs: 1e9,
      capacityLevels: [1],
    });
    const quietAlerts: unknown[] = [];
    quiet.supervisor.on('capacity', ({ userId, direction, level, live }) =>
      quietAlerts.push({ userId, direction, level, live }),
    );
    const alone = await connect(quiet.url('meter-6'));
    expect(quietAlerts).toEqual([]);
    // A second connection of the device (a reboot's, while its ghost still holds a slot): 2 of 2.
    const second = await connect(quiet.url('meter-6'));
    expect(quietAlerts).toEqual([{ userId: 'meter-6', direction: 'up', level: 1, live: 2 }]);
    const secondGone = new Promise<void>((resolve) => {
      const off = quiet.supervisor.on('disposed', () => {
        off();
        resolve();
      });
    });
    second.close();
    await secondGone;
    expect(quietAlerts).toEqual([
      { userId: 'meter-6', direction: 'up', level: 1, live: 2 },
      { userId: 'meter-6', direction: 'down', level: 1, live: 1 },
    ]);
    alone.close();
    await allDisposed(quiet.supervisor);
    expect(quietAlerts).toHaveLength(2); // the last one leaving, 1 to 0, crosses no level
    expectNoLeaks(quiet.supervisor);
  });

  it('[] raises none, for one connection or two', async () => {
    const silent = await startServer({
      maxConnectionsPerUser: 2,
      heartbeatIntervalMs: 1e9,
      capacityLevels: [],
    });
    const alerts: unknown[] = [];
    silent.supervisor.on('capacity', (event) => alerts.push(event));
    const first = await connect(silent.url('meter-7'));
    const second = await connect(silent.url('meter-7'));
    second.close();
    first.close();
    await allDisposed(silent.supervisor);
    expect(alerts).toEqual([]);
    expectNoLeaks(silent.supervisor);
  });
});
