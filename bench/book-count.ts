/**
 * How many entries a cluster book holds under one incarnation, and how many of them are idle:
 * one Lua script over every user's slots hash, for the benchmarks and tests that wait for the
 * book in Redis to agree with the connections. An entry is `incarnation|admittedAt|idleSince|node`
 * (src/cluster/redis-scripts.ts), idleSince empty while live; one named for eviction (`e…`)
 * counts as idle.
 */
export const BOOK_COUNT_SCRIPT = `local n, idle, cursor = 0, 0, '0'
repeat
  local page = redis.call('SCAN', cursor, 'MATCH', ARGV[1], 'COUNT', 1000)
  cursor = page[1]
  for _, key in ipairs(page[2]) do
    for _, entry in ipairs(redis.call('HVALS', key)) do
      local incarnation, _, since = string.match(entry, '^(%d+)|(%d+)|(e?%d*)|')
      if incarnation == ARGV[2] then
        n = n + 1
        if since ~= '' then idle = idle + 1 end
      end
    end
  end
until cursor == '0'
return {n, idle}`;

/** The EVAL command that runs it for `keyPrefix`'s book under `incarnation`. */
export function bookCountCommand(keyPrefix: string, incarnation: number): string[] {
  return ['EVAL', BOOK_COUNT_SCRIPT, '0', `${keyPrefix}:{u:*}:slots`, String(incarnation)];
}

/** Its answer as numbers. */
export function bookCount(answer: unknown): { entries: number; idle: number } {
  const [entries, idle] = answer as [number, number];
  return { entries: Number(entries), idle: Number(idle) };
}
