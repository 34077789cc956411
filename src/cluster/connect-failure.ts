/**
 * Why the store's first connect to Redis failed, in words a log line prints
 * (`${error.code}: ${error.message}`), so that a wrong password, a Redis that
 * is down and a TLS certificate the process does not trust read differently.
 * The failure's message alone is not always enough: an untrusted certificate
 * is named by its code (SELF_SIGNED_CERT_IN_CHAIN, on the socket's error that
 * node-redis keeps as a ReconnectStrategyError's `socketError`), which says
 * what to do; and a Redis Cluster's connect fails with "All the root nodes are
 * unavailable", each root node's own error only emitted as an 'error' event,
 * so the last one emitted is added.
 */

/** The words every misconfiguration hint starts with (namesMisconfiguration looks for them). */
const MISCONFIGURATION = 'a misconfiguration of cluster.redis';

/** Node's codes for a server certificate whose issuer the process does not trust. */
const UNTRUSTED = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
]);

const UNTRUSTED_HINT =
  "the server's certificate is not signed by a CA this process trusts: pass your own connected node-redis " +
  'client created with socket: { tls: true, ca } (a cluster client: defaults: { socket: { tls: true, ca } }), ' +
  'or start Node with NODE_EXTRA_CA_CERTS=<the CA file>';

/**
 * The reason of a failed connect: the error's message (without the deadlines' "Redis
 * connect: "), with the code of the innermost error when the message does not name it;
 * then the last error the client emitted, if the message does not say it already and the
 * innermost error has no code of its own (a cluster's "All the root nodes are
 * unavailable"); then what to do about an untrusted certificate.
 */
export function connectFailure(error: unknown, lastEmitted: unknown, plainUrl = false): string {
  let reason = messageOf(error).replace(/^Redis connect: /, '');
  let cause = innermost(error);
  let code = codeOf(cause);
  if (code !== undefined && !reason.includes(code)) reason += ` (${code})`;
  if (code === undefined && lastEmitted !== undefined) {
    const last = innermost(lastEmitted);
    if (!reason.includes(messageOf(last))) reason += `; last error: ${describe(last)}`;
    cause = last;
    code = codeOf(last);
  }
  if (code !== undefined && UNTRUSTED.has(code)) return `${reason}; ${UNTRUSTED_HINT}`;
  const misconfigured = MISCONFIGURED.find(([said]) => said.test(reason));
  if (misconfigured !== undefined) return `${reason}; ${misconfigured[1]}`;
  return plainUrl && closedEarly(cause, code) ? `${reason}; ${PLAIN_ON_TLS_HINT}` : reason;
}

/**
 * What Redis answers to a setting of `cluster.redis` that no retry cures: a wrong
 * user or password (WRONGPASS), none where one is required (NOAUTH), a database
 * number past the server's `databases` (SELECT's "DB index is out of range"). Under
 * the default 'local' policy these looked like an outage that never ends, the
 * process admitting on its own limit: the hint says which setting to fix.
 */
const MISCONFIGURED: readonly (readonly [RegExp, string])[] = [
  [
    /\b(?:WRONGPASS|NOAUTH)\b/,
    `${MISCONFIGURATION}: check the user name and password it gives (retrying does not cure this)`,
  ],
  [
    /DB index is out of range/,
    `${MISCONFIGURATION}: its database number is past this Redis's \`databases\` setting (retrying does not cure this)`,
  ],
];

/**
 * Whether a failed start of the store was refused for a misconfiguration (the Redis
 * store's connect error, whose message connectFailure wrote): supervisor.ready() rejects
 * with it, as no retry of the lease cures it by itself.
 */
export const isMisconfiguration = (error: unknown): boolean =>
  error instanceof Error &&
  (error as { code?: unknown }).code === 'WSSUP_STORE_UNAVAILABLE' &&
  error.message.includes(`; ${MISCONFIGURATION}: `);

/**
 * A Redis that takes TLS only drops a client that speaks plain RESP to it: the
 * client reads a reset (or the socket just ends) before any reply. Other causes
 * are possible (a proxy, a server restarting), so the hint is worded as one.
 */
const PLAIN_ON_TLS_HINT =
  'the connection was closed during the handshake: if this Redis requires TLS, use rediss:// instead of redis://';

/** A connection reset, or closed by the other end, before the client's handshake completed. */
function closedEarly(cause: unknown, code: string | undefined): boolean {
  return (
    code === 'ECONNRESET' ||
    code === 'EPIPE' ||
    (cause instanceof Error && cause.name === 'SocketClosedUnexpectedlyError')
  );
}

/** The end of a chain of `cause`s (and of node-redis's `socketError`), at most 8 deep. */
function innermost(error: unknown): unknown {
  let current = error;
  for (let depth = 0; depth < 8; depth++) {
    const next =
      current instanceof Error
        ? ((current as { socketError?: unknown }).socketError ?? current.cause)
        : undefined;
    if (next === undefined) break;
    current = next;
  }
  return current;
}

/** A code of the error's own (Node's, OpenSSL's), not one of ours. */
function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' && !code.startsWith('WSSUP_') ? code : undefined;
}

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

function describe(error: unknown): string {
  const message = messageOf(error);
  const code = codeOf(error);
  return code === undefined || message.includes(code) ? message : `${message} (${code})`;
}
