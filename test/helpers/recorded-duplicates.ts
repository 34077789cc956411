/**
 * The copies a node-redis client makes of itself with duplicate() (the store's pub/sub
 * connection is one), recorded as they are made: a test watches their events.
 */
export function recordDuplicates<Made>(client: { duplicate(...args: never[]): unknown }): Made[] {
  const made: Made[] = [];
  const duplicate = client.duplicate as (this: unknown, ...args: unknown[]) => Made;
  Object.assign(client, {
    // Called with the `this` it is given, as the store may give another (stoppableDuplicate in
    // src/cluster/redis-client.ts).
    duplicate(this: unknown, ...args: unknown[]) {
      const copy = duplicate.apply(this, args);
      made.push(copy);
      return copy;
    },
  });
  return made;
}
