/**
 * The copies a node-redis client makes of itself with duplicate() (the store's pub/sub
 * connection is one), recorded as they are made: a test watches their events.
 */
export function recordDuplicates<Made>(client: { duplicate(...args: never[]): unknown }): Made[] {
  const made: Made[] = [];
  const duplicate = client.duplicate.bind(client) as (...args: unknown[]) => Made;
  Object.assign(client, {
    duplicate: (...args: unknown[]) => {
      const copy = duplicate(...args);
      made.push(copy);
      return copy;
    },
  });
  return made;
}
