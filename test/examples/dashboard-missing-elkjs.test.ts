/**
 * Operator trial: without the optional peer elkjs (`ws-supervisor serve` from a bare install),
 * GET /dashboard/chart.svg answered 500 "chart failed: MissingPeerError …", while /metrics without
 * prom-client answered 501 with what to install. The chart now answers as /metrics does: 501
 * and one line naming the package. elkjs is made missing the way a bare install has it missing:
 * its import fails with ERR_MODULE_NOT_FOUND (importOptionalPeer's loader, as in
 * test/unit/optional-peer.test.ts); test/packaging/package.test.ts checks it with elkjs really
 * not installed.
 */
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { startReferenceServer } from '../../examples/reference-server/server.js';

vi.mock('../../src/optional-peer.js', async (importOriginal) =>
  (await import('../helpers/without-elkjs.js')).optionalPeerWithoutElkjs(importOriginal),
);

describe('dashboard without elkjs', () => {
  it('GET /dashboard/chart.svg answers 501 and one line naming elkjs, as /metrics does for prom-client; the page still loads', async () => {
    const logged: string[] = [];
    const server = await startReferenceServer(
      { host: '127.0.0.1', port: 0, limits: { preset: 'test' } },
      (line) => logged.push(line),
    );
    onTestFinished(() => server.close());
    const http = `http://127.0.0.1:${server.port}`;
    for (const method of ['GET', 'GET', 'HEAD']) {
      // Twice: a missing peer is not cached as a failure, and answers the same each time.
      const reply = await fetch(`${http}/dashboard/chart.svg`, { method });
      expect(reply.status).toBe(501);
      expect(reply.headers.get('content-type')).toMatch(/^text\/plain/);
      const body = await reply.text();
      if (method === 'GET') {
        expect(body).toMatch(/^[^\n]*npm install elkjs[^\n]*\n$/);
        expect(body).not.toMatch(/MissingPeerError|chart failed/);
      }
    }
    expect((await fetch(`${http}/dashboard`)).status).toBe(200);
    expect(logged.filter((line) => line.startsWith('error'))).toEqual([]);
  });
});
