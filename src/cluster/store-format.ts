/**
 * The store format (issue 12): what a version of ws-supervisor writes and reads in Redis
 * (the book's entries, the registry, the scripts' contracts, the messages between nodes)
 * has a number, kept in one key beside the registry (`<prefix>:{nodes}:format`,
 * redis-keys.ts) and carried by every message (`v`, cluster-sends.ts). Any version that
 * changes one of them raises it. So two versions that would miscount each other's books
 * never share a key prefix unnoticed, as in a rolling deploy onto a running cluster:
 *
 * - the renew script sets the marker when absent, and takes no lease (writing nothing) when
 *   it holds another format: the store's start() rejects with WSSUP_STORE_FORMAT;
 * - a running node whose renewal meets another format (its Redis flushed, then a node of
 *   another version started there) books nothing more there: see redis-store.ts, #foreign;
 * - a message of another format (or none this version can read) on a node's channel is
 *   ignored and reported, never acted on.
 */
import { SupervisorError } from '../errors.js';

/** This version's store format. */
export const STORE_FORMAT = 1;

/**
 * The error of a renewal that found `found` in the marker key. `where` names the Redis (its
 * URL redacted, redis-client.ts), `running` whether this process held a lease already.
 */
export function foreignFormatError(
  found: string,
  where: string,
  keyPrefix: string,
  markerKey: string,
  running: boolean,
): SupervisorError {
  const what = running
    ? 'this process stops renewing its lease there and books nothing until the key holds its format again'
    : 'this process takes no lease there and books nothing';
  return new SupervisorError(
    'WSSUP_STORE_FORMAT',
    `slot store format: ${where} holds store format ${JSON.stringify(found)} under the key prefix "${keyPrefix}" (key ${markerKey}), and this version of ws-supervisor writes format ${STORE_FORMAT}: two formats would miscount each other's connections, so ${what}. Deploy this version with another cluster.keyPrefix (a new, empty book), or first finish the other version's drain (stop every process of it) and delete its keys under "${keyPrefix}:".`,
  );
}
