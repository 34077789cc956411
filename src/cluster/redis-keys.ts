/**
 * The key layout of the Redis slot store (issue 12). Every key a script
 * touches is declared in KEYS, and the keys of one script share one Redis
 * Cluster hash slot through a hash tag (the part in braces):
 *
 * ```
 * <prefix>:{u:<user>}:slots    hash  connection id → "<incarnation>|<admittedAt>|<idleSince>|<nodeId>"
 *                                    (one user's book: admit, release, setIdle, readmit, purge)
 * <prefix>:{nodes}:leases      zset  incarnation → lease expiry (epoch ms, Redis TIME)
 * <prefix>:{nodes}:incarnations hash incarnation → node id
 * <prefix>:{nodes}:counter     string the last incarnation handed out (INCR, at least TIME in ms)
 * <prefix>:{nodes}:server      string the run_id of the server the renewals ran on (renew writes it;
 *                                    on a single Redis or a Sentinel primary, admit and readmit read it)
 * <prefix>:{nodes}:format      string the store format these keys are written in (STORE_FORMAT, store-format.ts):
 *                                    renew sets it when absent and refuses any other
 *                                    (the node registry: renew, registry, forget)
 * <prefix>:{i:<incarnation>}:users  set  users this incarnation has booked (the reaper's index)
 * <prefix>:{n:<nodeId>}:orders       sharded pub/sub channel of eviction orders and cluster-wide sends for that node
 * ```
 *
 * User ids and node ids are URI-encoded in key names: `{` and `}` never
 * appear inside a tag, and two ids never map to one key.
 */

export interface RegistryKeys {
  leases: string;
  incarnations: string;
  counter: string;
  /** The run_id of the server the renewals last ran on: see admitScript's 'moved'. */
  server: string;
  /**
   * The store format of every key and message under this prefix (store-format.ts): the renew
   * script writes it when absent and refuses to renew under any other. In the registry's
   * hash slot, so that the one script that checks it can (Redis Cluster keeps it there).
   */
  format: string;
}

export interface KeyLayout {
  readonly prefix: string;
  /** The hash that holds one user's slots. */
  user(userId: string): string;
  registry: RegistryKeys;
  /** The set of users an incarnation has booked, walked by the reaper when it dies. */
  incarnationUsers(incarnation: number): string;
  /** The sharded pub/sub channel that carries eviction orders and cluster-wide sends to `nodeId`. */
  orders(nodeId: string): string;
}

export function createKeyLayout(prefix: string): KeyLayout {
  const tag = `${prefix}:{nodes}`;
  return {
    prefix,
    user: (userId) => `${prefix}:{u:${encodeURIComponent(userId)}}:slots`,
    registry: {
      leases: `${tag}:leases`,
      incarnations: `${tag}:incarnations`,
      counter: `${tag}:counter`,
      server: `${tag}:server`,
      format: `${tag}:format`,
    },
    incarnationUsers: (incarnation) => `${prefix}:{i:${incarnation}}:users`,
    orders: (nodeId) => `${prefix}:{n:${encodeURIComponent(nodeId)}}:orders`,
  };
}
