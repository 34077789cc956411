/**
 * The README's `cluster.nodeId` default, `<hostname>:<pid>`, "unique per process", and
 * docs/cluster-store.md's Defaults table (`nodeId` | `<hostname>:<pid>`). A Kubernetes pod's
 * hostname is its name, up to 63 characters, with what tells the pods of one Deployment apart
 * at its end (`<deployment>-<replicaset hash>-<5 characters>`), and its main process is often
 * PID 1 in every pod. A default that cut the hostname to its first 50 characters gave every pod
 * of such a Deployment the same node id: each reported the others as WSSUP_DUPLICATE_NODE_ID,
 * and stats({ cluster: true }) and the dashboard showed them as one node.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';

const host = vi.hoisted(() => ({ name: 'web-1' }));
vi.mock('node:os', async (importOriginal) => {
  const os = await importOriginal<typeof import('node:os')>();
  return { ...os, hostname: () => host.name };
});

const { resolveClusterOptions } = await import('../../src/cluster/cluster-options.js');

const defaultNodeId = (hostname: string) => {
  host.name = hostname;
  return resolveClusterOptions({ redis: 'redis://127.0.0.1:6379' }).nodeId;
};

describe('the default node id', () => {
  afterEach(() => {
    host.name = 'web-1';
  });

  it('is <hostname>:<pid> whenever that fits the 64 characters of a node id', () => {
    expect(defaultNodeId('web-1')).toBe(`web-1:${process.pid}`);
    const fits = 'h'.repeat(64 - 1 - String(process.pid).length);
    expect(defaultNodeId(fits)).toBe(`${fits}:${process.pid}`);
    // 52 characters, as many pod names are: whole (before, cut to 50).
    const pod = 'notification-websocket-gateway-prod-5d8f7c9b6d-x7k2p';
    expect(defaultNodeId(pod)).toBe(`${pod}:${process.pid}`);
  });

  it('tells apart hostnames that differ only past what fits (pods of one Deployment, 63 characters)', () => {
    const deployment = 'notification-websocket-gateway-production-euw1';
    const pods = ['x7k2p', 'q9m4z', 'a1b2c'].map((suffix) => `${deployment}-5d8f7c9b6d-${suffix}`);
    expect(pods.map((pod) => pod.length)).toEqual([63, 63, 63]);
    const ids = pods.map(defaultNodeId);
    expect(new Set(ids).size).toBe(3);
    for (const [i, id] of ids.entries()) {
      expect(id).toMatch(/^[A-Za-z0-9._:-]{1,64}$/);
      expect(id.endsWith(`:${process.pid}`)).toBe(true);
      // Still readable: it starts with the hostname, and the same host always gives the same id.
      expect(id.startsWith(deployment.slice(0, 30))).toBe(true);
      expect(defaultNodeId(pods[i] as string)).toBe(id);
    }
  });

  it('replaces what a node id cannot hold, as before', () => {
    expect(defaultNodeId('web 1/ä')).toBe(`web-1--:${process.pid}`);
  });
});
