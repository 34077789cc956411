/**
 * The users a Sentinel setup under ACLs needs on each of its servers, as
 * docs/cluster-store.md ("A least-privilege ACL") gives them: shared by the tests that run
 * the store on one (doc-claims-sentinel-acl, sentinel-shorthand-credentials), so that both
 * lock the servers down the same way.
 */
import { expect } from 'vitest';

export interface AclUser {
  username: string;
  password: string;
}

/** The sentinel's own user on the servers, the replication user, an admin, and the app's user on the sentinels. */
export const monitor: AclUser = { username: 'sentinel-monitor', password: 'mon s3cret' };
export const replication: AclUser = { username: 'replicator', password: 'repl s3cret' };
export const admin: AclUser = { username: 'admin', password: 'admin s3cret' };
export const sentinelApp: AclUser = { username: 'wssup-sentinel', password: 'sent s3cret' };

/** The app's user on a sentinel, as the docs give it: node-redis's discovery, its PSUBSCRIBE, PING. */
export const SENTINEL_APP_RULES = [
  'allchannels',
  '+ping',
  '+psubscribe',
  '+sentinel|master',
  '+sentinel|replicas',
  '+sentinel|sentinels',
] as const;

/** Redis's documented rules for a sentinel's own user on the servers it monitors. */
export const SENTINEL_MONITOR_RULES = [
  'allchannels',
  '+multi',
  '+slaveof',
  '+ping',
  '+exec',
  '+subscribe',
  '+config|rewrite',
  '+role',
  '+publish',
  '+info',
  '+client|setname',
  '+client|kill',
  '+script|kill',
] as const;

/**
 * On one server (`command` sends to it, as a user allowed to, e.g. default before it goes
 * off): an admin with every right, the app's user with `appRules` (as given, its `on` and
 * `>password` included), the sentinel's user, the replication user; and
 * masteruser/masterauth, since either server may be a replica (after a failover, the old
 * primary).
 */
export async function setServerUsers(
  command: (...args: string[]) => Promise<unknown>,
  users: {
    admin: AclUser;
    app: AclUser;
    appRules: readonly string[];
    monitor: AclUser;
    replication: AclUser;
  },
): Promise<void> {
  const { admin, app, appRules, monitor, replication } = users;
  const set = (...rules: string[]) => command('ACL', 'SETUSER', ...rules);
  expect(await set(admin.username, 'on', `>${admin.password}`, '~*', '&*', '+@all')).toBe('OK');
  expect(await set(app.username, ...appRules)).toBe('OK');
  expect(await set(monitor.username, 'on', `>${monitor.password}`, ...SENTINEL_MONITOR_RULES)).toBe('OK');
  expect(
    await set(replication.username, 'on', `>${replication.password}`, '+psync', '+replconf', '+ping'),
  ).toBe('OK');
  expect(await command('CONFIG', 'SET', 'masteruser', replication.username)).toBe('OK');
  expect(await command('CONFIG', 'SET', 'masterauth', replication.password)).toBe('OK');
}

/** A reply of field-value pairs as node-redis gives it (a flat list, a Map or an object), as an object. */
export function pairs(reply: unknown): Record<string, string> {
  if (reply instanceof Map) return Object.fromEntries([...reply].map(([k, v]) => [String(k), String(v)]));
  if (!Array.isArray(reply)) return reply as Record<string, string>;
  const out: Record<string, string> = {};
  for (let i = 0; i < reply.length; i += 2) out[String(reply[i])] = String(reply[i + 1]);
  return out;
}
