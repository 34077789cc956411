/**
 * Which shard holds a user: `fnv1a(userId) % shards`. The hub routes with it
 * and stats() finds a user's book with it, so both must agree; it depends on
 * nothing but the user id and the shard count, so it needs no table.
 */

/**
 * 32-bit FNV-1a over the string's UTF-16 code units: a few operations per
 * character and no allocation, on every admission. It only has to spread
 * user ids evenly; it is not a defence against ids chosen to collide (an
 * attacker who piles users into one shard costs that shard O(its users) per
 * spawn, which is the cost every user paid before shards existed).
 */
export function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** The index, in [0, shards), of the shard that owns `userId`'s supervisor. */
export const shardOf = (userId: string, shards: number): number => fnv1a(userId) % shards;

/** The actor id of the shard at `index`: stable, so the hub can address it by computation alone. */
export const shardId = (index: number): string => `user-shard-${index}`;
