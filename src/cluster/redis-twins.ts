/**
 * Another live process under this node's id (a misconfiguration, or two processes given
 * the same name): found by the registry reads (the reaper's, a view()), which list every
 * lease, and told once per such lease (duplicateNodeId). Orders to this node id reach both
 * processes, each acting on its own incarnations' only (redis-order-channel.ts); the
 * warning is so that the operator gives each its own id.
 */
import type { Registry } from './redis-decode.js';

export class Twins {
  /**
   * Other processes' unexpired leases under this node id, by incarnation: the expiry
   * last read, and whether duplicateNodeId was told. See watch.
   */
  #twins = new Map<number, { expiresAt: number; told: boolean }>();

  constructor(readonly nodeId: string) {}

  /**
   * Tells duplicateNodeId (`tell`) about a lease under this node id that is not one of this
   * process's (`own`) and was renewed between two reads of the registry (the reaper's, every
   * reaperIntervalMs, or a view()): another live process. At start nothing is told: a
   * lease of this node id may be a crashed predecessor's (a restart with the same
   * hostname:pid), which looks alive until it expires but is never renewed again.
   */
  watch(registry: Registry, own: readonly number[], tell: (incarnation: number) => void): void {
    const seen = new Map<number, { expiresAt: number; told: boolean }>();
    for (const { incarnation, expiresAt, nodeId } of registry.leases) {
      if (nodeId !== this.nodeId || expiresAt < registry.now || own.includes(incarnation)) continue;
      const before = this.#twins.get(incarnation);
      const renewed = before !== undefined && expiresAt > before.expiresAt;
      const told = before?.told === true || renewed;
      seen.set(incarnation, { expiresAt, told });
      if (renewed && before.told !== true) tell(incarnation);
    }
    this.#twins = seen;
  }
}
