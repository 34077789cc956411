/**
 * An in-memory cluster-wide slot book with the rules of src/cluster/slot-store.ts,
 * for tests that run several simulated nodes in one process on one clock:
 * the runtime's side of cluster mode (admission, eviction orders, leases,
 * reconciliation, outages) without a Redis. The real store is tested against
 * a real redis-server (test/cluster/).
 *
 * `book.down = true` makes every call of every node reject with
 * SlotStoreUnavailableError, as an unreachable Redis would.
 *
 * `book.shards`, when set, splits the book into failure domains as a Redis
 * Cluster's masters do (SlotStore.shardOf): each user's calls fail while the
 * user's shard is in `book.downShards`, and the others' do not.
 *
 * A store made with `book.store(nodeId, ttl, { sends })` has sendAcross (one made
 * without has none, as an app's store may lack it): `'outcome'` answers a number when
 * every process concerned was told, `{ nodes, unreached }` when some (or none) were not,
 * which the contract allows where the Redis store rejects; `'count'` as a store written before
 * partial answers existed (a number, or a rejection as soon as one fails). A process
 * is not told while its node id is in `book.ordersDownTo`: its channel is down.
 */
import { planEvictions } from '../../machines/eviction.js';
import {
  type ClusterAdmission,
  type ClusterDelivery,
  type ClusterUserBook,
  type ClusterView,
  type EvictionOrder,
  type HeldConnection,
  type InstanceClaim,
  type ReadmitAnswer,
  type SendAcrossOutcome,
  type SlotStore,
  type SlotStoreEvents,
  SlotStoreUnavailableError,
} from '../../src/cluster/slot-store.js';

interface Entry {
  nodeId: string;
  incarnation: number;
  admittedAt: number;
  idleSince: number | undefined;
  /** Named for eviction, not released by its node yet: still counted (the Redis store's 'e' or 's' mark). */
  evicting?: boolean;
  /** Why it was named, while evicting: the cause its orders carry, again and again. */
  cause?: 'idle' | 'superseded';
  /** The client instance it was booked with (none for a stale attempt's). */
  instance?: InstanceClaim | undefined;
}

/** Marked superseded (the Redis store's 's' mark): left out of admit's and readmit's counts, and of userBook's live. */
const isSuperseded = (entry: Entry) => entry.evicting === true && entry.cause === 'superseded';

export class MemoryBook {
  down = false;
  /** The failure domain of each user (shards.of), and every one there is now (shards.all); undefined: one domain. */
  shards: { of: (userId: string) => string; all: () => readonly string[] } | undefined;
  /** Failure domains that do not answer: their users' calls reject. */
  readonly downShards = new Set<string>();
  /** Eviction orders fail (a node's channel on a Redis Cluster master that is away); the rest answers. */
  ordersDown = false;
  /** As ordersDown, for the orders to these node ids only (their channels' master is away). */
  readonly ordersDownTo = new Set<string>();
  /** userId → connectionId → entry. */
  readonly users = new Map<string, Map<string, Entry>>();
  /** incarnation → lease expiry. */
  readonly leases = new Map<number, { nodeId: string; expiresAt: number }>();
  readonly subscribers = new Map<string, SlotStoreEvents>();
  /** The store started under each node id: an order for one of its earlier incarnations reaches it (see orderEviction). */
  readonly stores = new Map<string, MemoryStore>();
  lastIncarnation = 0;
  /** Calls by method, for the round-trip checks. */
  readonly calls: Record<string, number> = {};

  constructor(readonly now: () => number) {}

  alive(incarnation: number): boolean {
    const lease = this.leases.get(incarnation);
    return lease !== undefined && lease.expiresAt > this.now();
  }

  /** The user's entries of live incarnations (dead ones purged). */
  book(userId: string): Map<string, Entry> {
    const book = this.users.get(userId) ?? new Map<string, Entry>();
    for (const [id, entry] of book) if (!this.alive(entry.incarnation)) book.delete(id);
    if (book.size === 0) this.users.delete(userId);
    else this.users.set(userId, book);
    return book;
  }

  /** Live entries of every user, by user: what the global rules are checked against. */
  liveCounts(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const userId of [...this.users.keys()]) counts.set(userId, this.book(userId).size);
    return counts;
  }

  /**
   * As liveCounts(), without the entries named for eviction: at most `limit` at every
   * moment. The evicted ones hold their slots only until their nodes release them.
   */
  admittedCounts(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const userId of [...this.users.keys()]) {
      counts.set(userId, [...this.book(userId).values()].filter((entry) => !entry.evicting).length);
    }
    return counts;
  }

  store(nodeId: string, leaseTtlMs: number, options: { sends?: 'outcome' | 'count' } = {}): MemoryStore {
    const store = new MemoryStore(this, nodeId, leaseTtlMs);
    const { sends } = options;
    if (sends !== undefined) store.sendAcross = (delivery) => store.publishAcross(delivery, sends);
    return store;
  }
}

export class MemoryStore implements SlotStore {
  incarnation = 0;
  /** Every incarnation this store took, the current one last: what it may release or take over. */
  readonly own: number[] = [];
  /** The runtime of this process: told of its own lease changes (the Redis store's #events). */
  #events: SlotStoreEvents | undefined;
  /** This node alone cannot reach the book (a partition, or a process paused). */
  partitioned = false;
  /**
   * Another server answers this node's next renewal (a failover, as the Redis store
   * tells one by the server's run_id): it fences itself, whatever its lease, and says so.
   */
  failedOver = false;
  /** Set by MemoryBook.store's `sends` option: absent otherwise. */
  sendAcross?: (delivery: ClusterDelivery) => Promise<number | SendAcrossOutcome>;

  constructor(
    private readonly shared: MemoryBook,
    readonly nodeId: string,
    private readonly leaseTtlMs: number,
  ) {}

  #call(method: string): void {
    this.shared.calls[method] = (this.shared.calls[method] ?? 0) + 1;
    if (this.shared.down || this.partitioned)
      throw new SlotStoreUnavailableError(`memory store is down (${method})`);
  }

  #takeLease(): void {
    this.shared.lastIncarnation += 1;
    this.incarnation = this.shared.lastIncarnation;
    this.own.push(this.incarnation);
    this.shared.leases.set(this.incarnation, {
      nodeId: this.nodeId,
      expiresAt: this.shared.now() + this.leaseTtlMs,
    });
  }

  shardOf(userId: string): string | undefined {
    return this.shared.shards?.of(userId);
  }

  shards(): readonly string[] | undefined {
    return this.shared.shards?.all();
  }

  /** A call about `userId`'s book: refused while the user's failure domain is down. */
  #callFor(method: string, userId: string): void {
    this.#call(method);
    this.#shardAnswers(method, userId);
  }

  #shardAnswers(method: string, userId: string): void {
    const shard = this.shardOf(userId);
    if (shard !== undefined && this.shared.downShards.has(shard))
      throw new SlotStoreUnavailableError(`memory store shard ${shard} is down (${method})`);
  }

  async start(events: SlotStoreEvents): Promise<void> {
    this.#call('start');
    this.#events = events;
    this.#takeLease();
    this.shared.subscribers.set(this.nodeId, events);
    this.shared.stores.set(this.nodeId, this);
  }

  async admit(
    userId: string,
    connectionId: string,
    limit: number,
    evictAt: number,
    instance?: InstanceClaim,
  ): Promise<ClusterAdmission> {
    this.#callFor('admit', userId);
    const book = this.shared.book(userId);
    const existing = book.get(connectionId);
    // The user's count, as the admit script answers it: every entry but the superseded ones (this one counted).
    const booked = [...book.entries()].filter(
      ([id, entry]) => id === connectionId || !(entry.evicting && entry.cause === 'superseded'),
    ).length;
    if (existing !== undefined && !this.#owns(existing)) {
      return { admitted: false, reason: 'duplicate-connection', live: booked };
    }
    // A retry (an earlier incarnation's entry taken over); an evicted entry its own node kept is booked again as a newcomer.
    if (existing !== undefined && !existing.evicting) {
      existing.incarnation = this.incarnation;
      return { admitted: true, evict: [], live: booked };
    }
    const others = [...book.entries()].filter(([id]) => id !== connectionId);
    const orderOf = ([id, entry]: [string, Entry]): EvictionOrder => ({
      connectionId: id,
      nodeId: entry.nodeId,
      incarnation: entry.incarnation,
      cause: entry.cause ?? 'idle',
    });
    // Kept by its node, but superseded meanwhile (a reconnect of its client instance): not booked
    // again (it would live on beside its successor), refused and named first as superseded, the
    // other marked entries after it; nothing written (the admit script).
    if (existing?.evicting === true && existing.cause === 'superseded') {
      return {
        admitted: false,
        reason: 'user-limit',
        live: booked - 1,
        evict: [
          orderOf([connectionId, existing]),
          ...others.filter(([, entry]) => entry.evicting).map(orderOf),
        ],
      };
    }
    // The client instance (the admit script): the entries of its id booked by an earlier attempt,
    // not marked evicted yet, are superseded, their slots this admission's; an attempt no later
    // than an entry of its instance is stale, supersedes nothing and is booked without it.
    const ofInstance = others.filter(
      ([, entry]) => instance !== undefined && entry.instance?.id === instance.id,
    );
    const stale = ofInstance.some(
      ([, entry]) => (entry.instance as InstanceClaim).attemptAt >= (instance as InstanceClaim).attemptAt,
    );
    const superseded = stale ? [] : ofInstance.filter(([, entry]) => !entry.evicting);
    // Its earlier entries already marked for an idle eviction: superseded too, if admitted.
    const converting = stale
      ? []
      : ofInstance.filter(([, entry]) => entry.evicting && entry.cause !== 'superseded');
    const rest = others.filter(([id]) => !superseded.some(([other]) => other === id));
    const again = rest.filter(([, entry]) => entry.evicting).map(orderOf);
    const idle = rest
      .filter(([, entry]) => entry.idleSince !== undefined && !entry.evicting)
      .sort(([, a], [, b]) => (a.idleSince as number) - (b.idleSince as number));
    // Counted toward the limit: every entry but the superseded ones (their clients left them),
    // the ones marked for an idle eviction included until released (their orders may be lost).
    const counts = ([, entry]: [string, Entry]) => !(entry.evicting && entry.cause === 'superseded');
    const leaving = rest.filter(([, entry]) => entry.evicting && entry.cause !== 'superseded').length;
    if (rest.filter(counts).length - converting.length - idle.length >= limit) {
      // A refusal supersedes nothing.
      const refused = { admitted: false, reason: 'user-limit', live: others.filter(counts).length } as const;
      return again.length === 0 ? refused : { ...refused, evict: again };
    }
    // The entries marked for an idle eviction (and not superseded now) are leaving: not counted
    // toward T, as a draining connection; counted toward the limit until released (their orders
    // may be lost), so idle ones go beyond T too while they would leave the user over it (the
    // admit script).
    const count = rest.length - again.length + 1;
    const counted = leaving - converting.length;
    const victims = planEvictions(
      count,
      idle.map(([id]) => id),
      evictAt,
    );
    for (const [id] of idle.slice(victims.length)) {
      if (count - victims.length + counted <= limit) break;
      victims.push(id);
    }
    const evict: EvictionOrder[] = [];
    // Kept until its node releases it (counted by later admissions if idle's): the superseded first.
    const mark = (id: string, cause: 'idle' | 'superseded') => {
      const entry = book.get(id) as Entry;
      entry.evicting = true;
      entry.cause = cause;
      entry.idleSince = undefined;
      evict.push(orderOf([id, entry]));
    };
    for (const [id] of superseded) mark(id, 'superseded');
    for (const id of victims) mark(id, 'idle');
    // Its earlier entries already marked for idleness become superseded (their node evicts
    // them even if active again), named again with that cause.
    for (const [, entry] of converting) entry.cause = 'superseded';
    const namedAgain = again.map((order) => ({
      ...order,
      cause: book.get(order.connectionId)?.cause ?? 'idle',
    }));
    book.set(connectionId, {
      nodeId: this.nodeId,
      incarnation: this.incarnation,
      admittedAt: this.shared.now(),
      idleSince: undefined,
      ...(instance === undefined || stale ? {} : { instance: { ...instance } }),
    });
    this.shared.users.set(userId, book);
    return { admitted: true, evict: [...evict, ...namedAgain], live: count - victims.length + counted };
  }

  /** Booked by this store: one of its incarnations (the Redis store's own list), under its node id. */
  #owns(entry: Entry): boolean {
    return entry.nodeId === this.nodeId && this.own.includes(entry.incarnation);
  }

  async release(userId: string, connectionId: string): Promise<void> {
    this.#callFor('release', userId);
    const book = this.shared.book(userId);
    const entry = book.get(connectionId);
    if (entry !== undefined && this.#owns(entry)) book.delete(connectionId);
    if (book.size === 0) this.shared.users.delete(userId);
  }

  async setIdle(
    userId: string,
    connectionId: string,
    idleSince: number | undefined,
    evictAt?: number,
  ): Promise<EvictionOrder[]> {
    this.#callFor('setIdle', userId);
    const book = this.shared.book(userId);
    const entry = book.get(connectionId);
    if (entry?.incarnation !== this.incarnation) return [];
    const judges = idleSince !== undefined && evictAt !== undefined;
    if (entry.evicting && !judges) return [];
    // The rule on the whole book, no newcomer: entries marked evicted are already leaving, and
    // named again after the new victims (their orders may have been lost), as admit names them.
    const again: EvictionOrder[] = [...book.entries()]
      .filter(([, other]) => other.evicting)
      .map(([id, other]) => ({
        connectionId: id,
        nodeId: other.nodeId,
        incarnation: other.incarnation,
        cause: other.cause ?? ('idle' as const),
      }));
    // Marked evicted (maybe by this same edge, its answer lost and the edge sent again): no
    // write, no judgement, the marked entries named again, this one among them.
    if (entry.evicting) return again;
    entry.idleSince = idleSince;
    if (idleSince === undefined || evictAt === undefined) return [];
    const live = [...book.entries()].filter(([, other]) => !other.evicting);
    const idle = live
      .filter(([, other]) => other.idleSince !== undefined)
      .sort(([a, x], [b, y]) => (x.idleSince as number) - (y.idleSince as number) || (a < b ? -1 : 1));
    const orders: EvictionOrder[] = [];
    for (const id of planEvictions(
      live.length,
      idle.map(([id]) => id),
      evictAt,
    )) {
      const victim = book.get(id) as Entry;
      victim.evicting = true;
      victim.cause = 'idle';
      victim.idleSince = undefined;
      orders.push({
        connectionId: id,
        nodeId: victim.nodeId,
        incarnation: victim.incarnation,
        cause: 'idle',
      });
    }
    return [...orders, ...again];
  }

  async orderEviction(order: EvictionOrder): Promise<void> {
    this.#call('orderEviction');
    if (this.shared.ordersDown || this.shared.ordersDownTo.has(order.nodeId))
      throw new SlotStoreUnavailableError(`memory store: the order channel is down (${order.nodeId})`);
    const target = this.shared.subscribers.get(order.nodeId);
    // As the Redis store's order channel (redis-order-channel.ts, deliver): an order for one of
    // the target's earlier incarnations (not retired yet after a failover) is handed on for its current one.
    const owner = this.shared.stores.get(order.nodeId);
    const delivered = owner?.own.includes(order.incarnation)
      ? { ...order, incarnation: owner.incarnation }
      : order;
    // Pub/sub is asynchronous: the order arrives after this step.
    if (target !== undefined) queueMicrotask(() => target.evictionOrdered(delivered));
  }

  /** sendAcross, answered as `answer` says (see the file's header). */
  async publishAcross(
    delivery: ClusterDelivery,
    answer: 'outcome' | 'count',
  ): Promise<number | SendAcrossOutcome> {
    this.#call('sendAcross');
    const targets = new Map<number, string>();
    if (!('userId' in delivery)) {
      for (const [incarnation, lease] of this.shared.leases) {
        if (this.shared.alive(incarnation)) targets.set(incarnation, lease.nodeId);
      }
    } else {
      this.#shardAnswers('sendAcross', delivery.userId);
      for (const entry of this.shared.book(delivery.userId).values())
        targets.set(entry.incarnation, entry.nodeId);
    }
    targets.delete(this.incarnation);
    let nodes = 0;
    const unreached: string[] = [];
    for (const nodeId of targets.values()) {
      if (this.shared.ordersDown || this.shared.ordersDownTo.has(nodeId)) {
        unreached.push(nodeId);
        continue;
      }
      nodes += 1;
      const target = this.shared.subscribers.get(nodeId);
      // Pub/sub is asynchronous: the message arrives after this step.
      if (target !== undefined) queueMicrotask(() => target.deliveryArrived?.(delivery));
    }
    if (unreached.length === 0) return nodes;
    const cause = new SlotStoreUnavailableError(
      `memory store: the channel is down (${unreached.join(', ')})`,
    );
    if (answer === 'count') throw cause;
    return { nodes, unreached: unreached.length, cause };
  }

  /**
   * As the readmit script, the supersede rule included: of two entries of one client instance,
   * the earlier attempt is marked superseded whichever is booked first, named once in `evict`
   * (absent when none); a refused connection supersedes nothing. Every other entry counts.
   */
  async readmit(held: readonly HeldConnection[], limit: number): Promise<ReadmitAnswer> {
    this.#call('readmit');
    for (const connection of held) this.#shardAnswers('readmit', connection.userId);
    const refused: ReadmitAnswer = [];
    /** Per user, the entries this call left out of the count: superseded now, or booked so. */
    const uncounted = new Map<string, Set<string>>();
    /** The superseded entries, in the order first marked (named once, as they are at the end). */
    const named = new Map<Entry, string>();
    for (const connection of held) {
      const { userId, connectionId } = connection;
      const book = this.shared.book(userId);
      const left = uncounted.get(userId) ?? new Set<string>();
      uncounted.set(userId, left);
      const supersede = (id: string) => {
        const entry = book.get(id) as Entry;
        entry.evicting = true;
        entry.cause = 'superseded';
        entry.idleSince = undefined;
        left.add(id);
        if (!named.has(entry)) named.set(entry, id);
      };
      const entry = book.get(connectionId);
      if (entry !== undefined && !this.#owns(entry)) {
        refused.push(connectionId);
        continue;
      }
      // Its instance: an entry taken over keeps its own (the held connection's when it has none).
      const instance = entry?.instance ?? connection.instance;
      const relatives = [...book.entries()].filter(
        ([id, other]) => id !== connectionId && instance !== undefined && other.instance?.id === instance.id,
      );
      const at = (other: Entry) => (other.instance as InstanceClaim).attemptAt;
      const later = relatives.some(([, other]) => at(other) > (instance as InstanceClaim).attemptAt);
      const earlier = relatives
        .filter(([, other]) => at(other) < (instance as InstanceClaim).attemptAt)
        .map(([id]) => id)
        .sort();
      if (later) {
        // Left behind by its client: booked (or taken over) superseded, its slot the later one's.
        if (entry === undefined) {
          book.set(connectionId, {
            nodeId: this.nodeId,
            incarnation: this.incarnation,
            admittedAt: connection.admittedAt,
            idleSince: undefined,
            instance,
          });
        } else {
          entry.incarnation = this.incarnation;
          entry.instance = instance;
        }
        supersede(connectionId);
        this.shared.users.set(userId, book);
        continue;
      }
      // As the readmit script: a superseded entry (this call's or an earlier one's) is not counted.
      const counted = (id: string) => !left.has(id) && !isSuperseded(book.get(id) as Entry);
      const replaced = earlier.filter(counted).length;
      const count = [...book.keys()].filter(counted).length;
      if (entry === undefined && count - replaced >= (connection.limit ?? limit)) {
        refused.push(connectionId);
        continue;
      }
      if (entry !== undefined && entry.incarnation !== this.incarnation) {
        // Ours, from an earlier incarnation: taken over where it is (an eviction mark stays, and
        // so does its instance: the held connection's when it has none).
        entry.incarnation = this.incarnation;
        if (!entry.evicting) entry.idleSince = connection.idleSince;
        entry.instance ??= connection.instance;
      } else if (entry === undefined) {
        book.set(connectionId, {
          nodeId: this.nodeId,
          incarnation: this.incarnation,
          admittedAt: connection.admittedAt,
          idleSince: connection.idleSince,
          instance: connection.instance,
        });
      }
      // Ours, superseded already (this call sent again, the answer that named it lost): named again.
      if (entry?.evicting === true && entry.cause === 'superseded' && !named.has(entry))
        named.set(entry, connectionId);
      for (const id of earlier) supersede(id);
      this.shared.users.set(userId, book);
    }
    // As the readmit script (and admit): another owner's entries superseded earlier are named
    // again, once, after the ones this call marked (their orders may have been lost).
    for (const userId of uncounted.keys())
      for (const [id, entry] of this.shared.book(userId))
        if (isSuperseded(entry) && !this.#owns(entry) && !named.has(entry)) named.set(entry, id);
    const evict = [...named].map(([entry, connectionId]) => ({
      connectionId,
      nodeId: entry.nodeId,
      incarnation: entry.incarnation,
      cause: 'superseded' as const,
    }));
    if (evict.length > 0) refused.evict = evict;
    return refused;
  }

  async renew(): Promise<'renewed' | 'lost'> {
    this.#call('renew');
    if (this.failedOver) {
      this.failedOver = false;
      const previous = this.incarnation;
      // The old lease runs on (its entries count) until retirePrevious, after the re-admission.
      this.#takeLease();
      this.#events?.incarnationChanged(this.incarnation, previous, 'failover');
      return 'lost';
    }
    if (this.shared.alive(this.incarnation)) {
      (this.shared.leases.get(this.incarnation) as { expiresAt: number }).expiresAt =
        this.shared.now() + this.leaseTtlMs;
      return 'renewed';
    }
    // As the contract (SlotStore.renew) and the Redis store: the new incarnation is told.
    const previous = this.incarnation;
    this.#takeLease();
    this.#events?.incarnationChanged(this.incarnation, previous, 'lease-lost');
    return 'lost';
  }

  async retirePrevious(): Promise<void> {
    this.#call('retirePrevious');
    for (const incarnation of this.own) {
      const lease = this.shared.leases.get(incarnation);
      if (incarnation !== this.incarnation && lease !== undefined) lease.expiresAt = 0;
    }
  }

  async reap(): Promise<number> {
    this.#call('reap');
    let removed = 0;
    for (const [userId, book] of this.shared.users) {
      const before = book.size;
      removed += before - this.shared.book(userId).size;
    }
    return removed;
  }

  async userBook(userId: string): Promise<ClusterUserBook | undefined> {
    this.#callFor('userBook', userId);
    const book = this.shared.book(userId);
    if (book.size === 0) return undefined;
    const byNode: Record<string, number> = {};
    const superseded = { count: 0, byNode: {} as Record<string, number> };
    let idle = 0;
    let live = 0;
    for (const entry of book.values()) {
      // As the Redis store's userBook: a superseded entry counts apart, as admit leaves it out.
      if (entry.evicting && entry.cause === 'superseded') {
        superseded.count += 1;
        superseded.byNode[entry.nodeId] = (superseded.byNode[entry.nodeId] ?? 0) + 1;
        continue;
      }
      live += 1;
      byNode[entry.nodeId] = (byNode[entry.nodeId] ?? 0) + 1;
      if (entry.idleSince !== undefined) idle += 1;
    }
    return superseded.count === 0
      ? { userId, live, idle, byNode }
      : { userId, live, idle, byNode, superseded };
  }

  async view(): Promise<ClusterView> {
    this.#call('view');
    // As the Redis store's view: an entry marked superseded is counted apart, not in
    // connections (one marked for an idle eviction still counts); users: those with one counted.
    let unreadUsers = 0;
    let connections = 0;
    let users = 0;
    let superseded = 0;
    for (const userId of [...this.shared.users.keys()]) {
      const shard = this.shardOf(userId);
      // As the Redis store reads a Redis Cluster: the users whose shard is down are not read.
      if (shard !== undefined && this.shared.downShards.has(shard)) {
        if (this.shared.book(userId).size > 0) unreadUsers += 1;
        continue;
      }
      let live = 0;
      for (const entry of this.shared.book(userId).values()) {
        if (isSuperseded(entry)) superseded += 1;
        else live += 1;
      }
      if (live > 0) users += 1;
      connections += live;
    }
    return {
      ...(superseded === 0 ? {} : { superseded }),
      ...(unreadUsers === 0 ? {} : { unread: { nodes: 0, users: unreadUsers } }),
      nodes: [...this.shared.leases].map(([incarnation, lease]) => ({
        nodeId: lease.nodeId,
        incarnation,
        leaseExpiresInMs: lease.expiresAt - this.shared.now(),
      })),
      users,
      connections,
    };
  }

  async stop(): Promise<void> {
    this.#call('stop');
    this.shared.subscribers.delete(this.nodeId);
    for (const [userId, book] of this.shared.users) {
      for (const [id, entry] of book) if (this.#owns(entry)) book.delete(id);
      if (book.size === 0) this.shared.users.delete(userId);
    }
    for (const incarnation of this.own) this.shared.leases.delete(incarnation);
  }
}
