/**
 * The eviction rule (docs/rules.md, "The rules") as one pure function, shared by the
 * supervisor's admission and idle paths so that both apply the same rule.
 *
 * Invariant: while a user's live count n is at or above the threshold T, no
 * connection of that user stays idle. Idle children are evicted longest idle
 * first until n < T or none is idle; active children are never evicted.
 */

/** T = ceil(threshold × limit): the live count at which idle children must go. */
export function evictionPoint(limit: number, threshold: number): number {
  // Round the product to 12 significant digits first: 0.55 × 100 is
  // 55.00000000000001 in floating point, and ceil would make T 56.
  return Math.ceil(Number((threshold * limit).toPrecision(12)));
}

/**
 * Which idle children to evict so that the invariant holds: longest idle first, until the
 * live count is below `evictAt` or none is idle. Never an active child.
 *
 * @param liveCount the live count the invariant must hold for (for an
 *   admission, the count including the newcomer)
 * @param idleLongestFirst ids of the idle live children, longest idle first
 * @param evictAt T, the live count at which idle children must go ({@link evictionPoint})
 * @returns the ids to evict, in eviction order
 */
export function planEvictions(
  liveCount: number,
  idleLongestFirst: readonly string[],
  evictAt: number,
): string[] {
  const victims: string[] = [];
  let remaining = liveCount;
  for (const id of idleLongestFirst) {
    if (remaining < evictAt) break;
    victims.push(id);
    remaining -= 1;
  }
  return victims;
}
