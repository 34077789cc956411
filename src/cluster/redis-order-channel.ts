/**
 * This node's order channel (redis-keys.ts, `orders`): the one pub/sub subscription through
 * which other nodes reach it, with eviction orders and cluster-wide sends (cluster-sends.ts).
 * It opens the subscription, notices when it is lost (the client says so, or the probes sent
 * at each renewal stop coming back: subscription-probe.ts), subscribes again from the next
 * renewals, and reads what arrives: a message is acted on only if it is of this store format
 * and fenced to this process's incarnations. Publishing an order is the store's (orderEviction);
 * how an order is written is here, beside how it is read.
 *
 * It owns the pub/sub connection (a duplicate of the store's client), never the client:
 * the store opens and closes that, and says what state it is in (OrderChannelOwner).
 */
import { SupervisorError } from '../errors.js';
import { decodeDelivery } from './cluster-sends.js';
import {
  connectTimeoutMs,
  permissionDenied,
  type RedisConnection,
  type RedisSubscriberLike,
} from './redis-client.js';
import type { KeyLayout } from './redis-keys.js';
import { type EvictionOrder, type SlotStoreEvents, SlotStoreUnavailableError } from './slot-store.js';
import { STORE_FORMAT } from './store-format.js';
import { SubscriptionProbe } from './subscription-probe.js';

/** What the channel reads of its store, each when it needs it (all of it changes after start). */
export interface OrderChannelOwner {
  /** Whether the store is started: nothing is told or handed on before, nor once it stops. */
  started(): boolean;
  /** Whether the store was stopped: a subscription opened meanwhile is not taken as the channel's. */
  stopped(): boolean;
  /** The events start() was given (undefined before). */
  events(): SlotStoreEvents | undefined;
  /** The store's current incarnation: orders are handed on under it. */
  incarnation(): number;
  /** The incarnations this process took, the current one last: the orders it may act on. */
  own(): readonly number[];
}

export class OrderChannel {
  #subscriber: RedisSubscriberLike | undefined;
  /** Whether a message this node could not read was reported since the last renewal (#ignored). */
  #ignoredReported = false;
  /** The client dropped this node's channel (see #lostSubscription): renewals subscribe again. */
  #subscriptionLost = false;
  /** The #resubscribe in flight, at most one. */
  #resubscribing: Promise<void> | undefined;
  /** Whether the subscription still works, asked of Redis at each renewal. */
  readonly #probe = new SubscriptionProbe();
  readonly #ignoreError = () => {};

  constructor(
    readonly keys: KeyLayout,
    readonly nodeId: string,
    readonly commandTimeoutMs: number,
    readonly owner: OrderChannelOwner,
  ) {}

  /** The #resubscribe in flight, if any: stop() waits for it once close() has closed its connection. */
  get resubscribing(): Promise<void> | undefined {
    return this.#resubscribing;
  }

  /** Opens the pub/sub connection (a duplicate of the client) and subscribes to this node's channel. */
  async subscribe(connection: RedisConnection): Promise<void> {
    const subscriber = connection.client.duplicate();
    subscriber.on('error', this.#ignoreError);
    const channel = this.keys.orders(this.nodeId);
    subscriber.on('sharded-channel-moved-error', (error, moved) => {
      if (moved === channel && subscriber === this.#subscriber) this.#lostSubscription(channel, error);
    });
    this.#subscriber = subscriber;
    // A connection to open, like the first one: not a command's deadline.
    await connection.watch(
      subscriber.connect(),
      'connect (pub/sub)',
      connectTimeoutMs(this.commandTimeoutMs),
    );
    await connection.watch(
      subscriber.sSubscribe(channel, (message) => this.#onOrder(message)),
      'SSUBSCRIBE',
    );
  }

  /** A renewal begins a new period: the next unreadable message is told again (#ignored). */
  renewing(): void {
    this.#ignoredReported = false;
  }

  /**
   * The client dropped this node's channel (a Redis Cluster: its slot moved and subscribing
   * on the new master failed), or probes published on it do not come back (subscription-probe.ts):
   * nothing would come on it again. Told once; the next renewals subscribe again
   * (#resubscribe) until one succeeds.
   */
  #lostSubscription(channel: string, error: Error): void {
    if (!this.owner.started() || this.#subscriptionLost) return;
    this.#subscriptionLost = true;
    this.#probe.reset();
    this.owner
      .events()
      ?.subscriptionLost?.(
        new SlotStoreUnavailableError(
          `lost the subscription to ${channel} (${error.message}): eviction orders and cluster-wide sends to this node are lost until a lease renewal subscribes again`,
          { cause: error },
        ),
      );
  }

  /**
   * At each renewal Redis answered: a lost channel (see #lostSubscription) is subscribed
   * again, not awaited and one attempt at a time (a connection to open may take longer than a
   * renewal's deadline); otherwise the last probe is judged, and a new one sent.
   */
  check(connection: RedisConnection): void {
    if (this.owner.stopped() || this.#resubscribing !== undefined) return;
    const subscriber = this.#subscriber;
    if (!this.#subscriptionLost) {
      if (subscriber === undefined) return;
      const lost = this.#probe.judge(subscriber);
      if (lost === undefined) {
        const channel = this.keys.orders(this.nodeId);
        this.#probe.send(
          subscriber,
          (probe) => connection.command(['SPUBLISH', channel, probe]),
          permissionDenied,
        );
        return;
      }
      this.#lostSubscription(this.keys.orders(this.nodeId), new Error(lost));
      if (!this.#subscriptionLost) return;
    }
    this.#resubscribing = this.#resubscribe(connection).finally(() => {
      this.#resubscribing = undefined;
    });
  }

  /**
   * After #lostSubscription, from a renewal that Redis answered: a new pub/sub connection and
   * SSUBSCRIBE, the old one closed first (its channel is gone, and a second subscription must
   * never be live beside it). A failure closes the new one too: the next renewal tries again.
   */
  async #resubscribe(connection: RedisConnection): Promise<void> {
    this.#dropSubscriber();
    try {
      await this.subscribe(connection);
      // stop() came meanwhile: close() closed it.
      if (!this.owner.stopped()) {
        this.#subscriptionLost = false;
        this.#probe.reset();
      }
    } catch {
      this.#dropSubscriber();
    }
  }

  /** Closes the pub/sub connection (its 'error' listener stays: see close). */
  #dropSubscriber(): void {
    const subscriber = this.#subscriber;
    this.#subscriber = undefined;
    subscriber?.destroy();
  }

  /** Closes the pub/sub connection for good, from the store's release, before its client is closed. */
  close(): void {
    const subscriber = this.#subscriber;
    this.#subscriber = undefined;
    if (subscriber !== undefined) {
      // destroy drops the pub/sub connection, which unsubscribes it; an
      // UNSUBSCRIBE could wait forever on a Redis that does not answer.
      // Its 'error' listener stays: a PING in flight, rejected by destroy(),
      // is reported as an 'error' event later (see redis-client.ts, close).
      subscriber.destroy();
    }
  }

  #onOrder(message: string): void {
    if (this.#probe.isProbe(message)) return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(message);
    } catch {
      this.#ignored('it is not JSON');
      return;
    }
    // Another format's message (store-format.ts), or one that carries none: never acted on,
    // whatever it looks like, since its fields may mean something else there.
    const format = typeof parsed === 'object' && parsed !== null ? (parsed as { v?: unknown }).v : undefined;
    if (format !== STORE_FORMAT) {
      // Only a format that is a short number or string is shown: the rest may be the app's data.
      const shown =
        typeof format === 'number' || (typeof format === 'string' && format.length <= 16)
          ? JSON.stringify(format)
          : `of type ${typeof format}`;
      this.#ignored(format === undefined ? 'it names no store format (v)' : `it is of store format ${shown}`);
      return;
    }
    // A cluster-wide send (no connectionId): fenced as an order is, by node and incarnation.
    const sent = decodeDelivery(parsed);
    if (sent !== undefined) {
      if (
        this.owner.started() &&
        sent.nodeId === this.nodeId &&
        sent.incarnation === this.owner.incarnation()
      )
        this.owner.events()?.deliveryArrived?.(sent.delivery);
      return;
    }
    const order = parsed as { [K in keyof EvictionOrder]?: unknown };
    if (
      typeof order.connectionId !== 'string' ||
      typeof order.incarnation !== 'number' ||
      typeof order.nodeId !== 'string'
    ) {
      this.#ignored('it is neither an eviction order nor a cluster-wide send');
      return;
    }
    // A cause this version does not know: acting on it as an idle order would keep a connection
    // another version meant to go (or the reverse), so the order is not acted on.
    const { cause } = order;
    if (cause !== undefined && cause !== 'idle' && cause !== 'superseded') {
      this.#ignored('its eviction order names a cause this version does not know');
      return;
    }
    // Only orders for this node come on its channel: the runtime passes an order naming
    // another node on to that node, so one that came here by mistake must stop here.
    if (order.nodeId !== this.nodeId) return;
    const delivered: EvictionOrder = {
      connectionId: order.connectionId,
      nodeId: order.nodeId,
      incarnation: order.incarnation,
    };
    if (cause !== undefined) delivered.cause = cause;
    this.deliver(delivered);
  }

  /**
   * A message on this node's channel that it cannot read (another version's, or not this
   * store's): dropped, never thrown nor acted on, and told (messageIgnored) at most once per
   * renewal period, so that a stream of them cannot flood the app's onError. What it says is
   * left out of the report: a send carries the app's data.
   */
  #ignored(why: string): void {
    if (!this.owner.started() || this.#ignoredReported) return;
    this.#ignoredReported = true;
    this.owner
      .events()
      ?.messageIgnored?.(
        new SupervisorError(
          'WSSUP_STORE_FORMAT',
          `slot store format: ignored a message on ${this.keys.orders(this.nodeId)} that this version of ws-supervisor (store format ${STORE_FORMAT}) cannot read: ${why}. Another version may publish under the key prefix "${this.keys.prefix}": give each version its own cluster.keyPrefix. (Told once per lease renewal period.)`,
        ),
      );
  }

  /**
   * Hands an order to the runtime, for this process's current incarnation. One for an
   * earlier incarnation of this process is handed on as for the current one: after a
   * failover its entries count until the re-admission takes them over (renewScript), and
   * an admission may name one meanwhile (the connection is this process's either way).
   * Any other incarnation's is fenced out: another process with this node id owns it.
   * The store calls it too, for an order of its own (orderEviction: no need to go through Redis).
   */
  deliver(order: EvictionOrder): void {
    if (!this.owner.started() || !this.owner.own().includes(order.incarnation)) return;
    const current = this.owner.incarnation();
    this.owner
      .events()
      ?.evictionOrdered(order.incarnation === current ? order : { ...order, incarnation: current });
  }
}

/**
 * An eviction order as it travels, with the store format it is written in (store-format.ts),
 * and its cause when it names one (`"cause":"superseded"`: an entry superseded by a reconnect
 * of its client instance, which its node evicts idle or not; `"idle"`); none is read as idle.
 */
export function encodeOrder(order: EvictionOrder): string {
  return JSON.stringify({
    v: STORE_FORMAT,
    connectionId: order.connectionId,
    nodeId: order.nodeId,
    incarnation: order.incarnation,
    ...(order.cause === undefined ? {} : { cause: order.cause }),
  });
}
