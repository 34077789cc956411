/**
 * stats().admission: whether an upgrade arriving now would be considered for
 * admission, or refused for a reason that concerns the whole process. What a
 * readiness probe reads (the reference server's GET /readyz). A full user or
 * a full process is not "not ready": another upgrade would still be
 * considered, and a probe that followed the count would make the load
 * balancer flap.
 */
import { describe, expect, it } from 'vitest';
import { connect, connectRefused, startServer } from '../helpers/server.js';

describe('stats().admission', () => {
  it('is admitting while the supervisor runs, even with its user and its process full', async () => {
    const t = await startServer({ maxConnections: 1 });
    expect(t.supervisor.stats().admission).toEqual({ admitting: true, reason: null });
    const reasons: string[] = [];
    t.supervisor.on('rejected', ({ reason }) => reasons.push(reason));
    await connect(t.url('ann'));
    expect(await connectRefused(t.url('bob'))).toBe(503);
    expect(reasons).toEqual(['process-limit']);
    expect(t.supervisor.stats().admission).toEqual({ admitting: true, reason: null });
  });

  it('turns to shutting-down in the same tick as shutdown() is called, and upgrades are refused with it', async () => {
    const t = await startServer();
    const ws = await connect(t.url('ann'));
    const done = t.supervisor.shutdown({ deadlineMs: 200 });
    // Synchronously: no await between the call and the read.
    expect(t.supervisor.stats().admission).toEqual({ admitting: false, reason: 'shutting-down' });
    expect(await connectRefused(t.url('bob'))).toBe(503);
    await done;
    expect(t.supervisor.stats().admission).toEqual({ admitting: false, reason: 'shutting-down' });
    ws.terminate();
  });
});
