/**
 * The per-connection inbound message rate limit (`messageRate`): a token
 * bucket kept in two numbers on the connection (ws-adapter.ts), refilled from
 * the clock value the message path reads anyway, so it needs no timer and
 * allocates nothing per message. Without the option the path pays one branch.
 */

/** `messageRate`: messages per second a connection may sustain, and how many it may send at once. */
export interface MessageRate {
  /** Messages per second a connection may sustain (tokens added per second), > 0. */
  perSecond: number;
  /** Messages a connection may send at once (the bucket's size), an integer ≥ 1. */
  burst: number;
}
