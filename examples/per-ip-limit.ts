/**
 * A second limit beside the per-user one: an anonymous support-chat widget. Visitors are
 * named by a signed cookie (3 connections each), agents by a token (10 each), and every
 * network address holds at most 20 visitor connections, read behind a trusted proxy from
 * X-Forwarded-For. The library keeps one limit per user; the per-address count is the
 * app's, reserved at authenticate's verdict and released by the verdict's correlationId.
 * docs/admission.md ("A second limit: per network address") quotes the regions below
 * (test/examples/readme-snippets.test.ts); test/examples/per-ip-limit.test.ts runs it.
 *
 *   npm run example:per-ip-limit -- --port 8080
 *   then GET http://127.0.0.1:8080/ (sets the visitor cookie), and connect with that cookie
 *   to ws://127.0.0.1:8080/chat; an agent connects to ws://127.0.0.1:8080/chat?token=agent-ann
 */
import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { type AddressInfo, isIP } from 'node:net';
import { pathToFileURL } from 'node:url';
import { type Clock, createSupervisor, Refusal, type Supervisor } from 'ws-supervisor';
// Not the library: the examples' own --port, --help and listen error. Your app reads its own configuration.
import { exitIfCannotListen, readExampleFlags } from './reference-server/command-line.js';

export interface PerIpOptions {
  /** Signs the visitor cookie. */
  secret: string;
  /** Your proxies' own addresses: only their X-Forwarded-For is believed. */
  trustedProxies: readonly string[];
  /** Visitor connections per network address. @default 20 */
  perAddress?: number;
  /** Your session store, asked with the visitor id: false refuses. Here, every visitor is welcome. */
  lookupVisitor?: (visitorId: string, signal: AbortSignal) => Promise<boolean>;
  /** The supervisor's clock (a test's SimulatedClock). */
  clock?: Clock & { now?: () => number };
  /** @default 10_000 */
  authenticateTimeoutMs?: number;
}

export interface PerIpApp {
  server: Server;
  supervisor: Supervisor<{ address?: string }>;
  /** Visitor connections per network address, reserved or admitted. */
  perAddress: ReadonlyMap<string, number>;
  /** A signed visitor cookie (`vid=...`), as GET / sets it. */
  visitorCookie(visitorId: string): string;
}

/**
 * An address as one spelling, or undefined for no address. Accepts what proxies write:
 * `1.2.3.4`, `1.2.3.4:5678`, `[2001:db8::1]:443`. An IPv4-mapped IPv6 address
 * (`::ffff:1.2.3.4`, a dual-stack listener's IPv4 peer) is its IPv4 address; IPv6 is
 * lowercase and compressed, as the URL parser writes it.
 */
export function canonicalAddress(text: string): string | undefined {
  let value = text.trim();
  const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(value);
  if (bracketed !== null) value = bracketed[1] ?? '';
  else if (/^[\d.]+:\d{1,5}$/.test(value)) value = value.slice(0, value.lastIndexOf(':'));
  const family = isIP(value);
  if (family === 4) return value;
  if (family !== 6) return undefined;
  const groups = hextets(value);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    const [high = 0, low = 0] = groups.slice(6);
    return [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.');
  }
  return new URL(`http://[${value}]`).hostname.slice(1, -1);
}

/**
 * The key a client address is counted under: IPv4 as is, IPv6 by its /64 (`2001:db8::/64`),
 * since one subscriber is given a whole /64 and picks any address in it.
 */
export function addressKey(address: string): string {
  if (isIP(address) !== 6) return address;
  const prefix = hextets(address)
    .slice(0, 4)
    .map((g) => g.toString(16));
  return `${canonicalAddress([...prefix, '0', '0', '0', '0'].join(':'))}/64`;
}

/** The eight 16-bit groups of a valid IPv6 address (a trailing dotted IPv4 part counts as two). */
function hextets(address: string): number[] {
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(address);
  const text = dotted === null ? address : `${address.slice(0, dotted.index)}0:0`;
  const [head = '', tail] = text.split('::');
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((g) => Number.parseInt(g, 16)));
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  const groups = [...left, ...Array(8 - left.length - right.length).fill(0), ...right];
  if (dotted !== null) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    groups[6] = (a << 8) | b;
    groups[7] = (c << 8) | d;
  }
  return groups;
}

/** A client instance's claim, `<id>.<attempt ms>` (the library's rule), else none. */
interface Claim {
  id: string;
  attemptAt: number;
}
const claimOf = (value: string | null): Claim | undefined => {
  const match = /^([A-Za-z0-9_-]{16,64})\.(\d{1,16})$/.exec(value ?? '');
  const attemptAt = Number(match?.[2]);
  return match === null || !Number.isSafeInteger(attemptAt) ? undefined : { id: match[1] ?? '', attemptAt };
};

/** A visitor connection the app counts: its address, user, and instance claim. */
interface Visit {
  address: string;
  userId: string;
  claim: Claim | undefined;
}

/** The app: an HTTP server with the supervisor attached at /chat. */
export function createPerIpApp(options: PerIpOptions): PerIpApp {
  const { secret, lookupVisitor = async () => true } = options;
  const limitPerAddress = options.perAddress ?? 20;
  const agents: Record<string, string> = { 'agent-ann': 'ann', 'agent-bob': 'bob' }; // demo tokens

  const sign = (value: string) => createHmac('sha256', secret).update(value).digest('base64url');
  const visitorCookie = (visitorId: string) => `vid=${visitorId}.${sign(visitorId)}`;
  /** The visitor id of a cookie header whose `vid` is signed by us, else undefined. */
  function visitorOf(cookie: string | undefined): string | undefined {
    const value = /(?:^|;\s*)vid=([A-Za-z0-9_-]{1,64})\.([A-Za-z0-9_-]+)/.exec(cookie ?? '');
    if (value === null) return undefined;
    const [, id = '', mac = ''] = value;
    const given = Buffer.from(mac);
    const expected = Buffer.from(sign(id));
    return given.length === expected.length && timingSafeEqual(given, expected) ? id : undefined;
  }

  // #region client-address
  /**
   * The client's address. A peer that is not one of your proxies is the client: its
   * X-Forwarded-For is whatever it wrote, ignored. From your proxy, walk the entries from the
   * right, skipping those that are your proxies: the first other one is the client (every
   * X-Forwarded-For header counts: Node joins them with commas). An entry that is no address
   * counts as none: the peer is the client.
   */
  const trustedProxies = new Set(options.trustedProxies.map((entry) => canonicalAddress(entry) ?? entry));
  function clientAddress(request: IncomingMessage): string {
    const peer = canonicalAddress(request.socket.remoteAddress ?? '') ?? 'unknown';
    if (!trustedProxies.has(peer)) return addressKey(peer);
    const forwarded = String(request.headers['x-forwarded-for'] ?? '').split(',');
    for (let i = forwarded.length - 1; i >= 0; i--) {
      const entry = canonicalAddress(forwarded[i] ?? '');
      if (entry === undefined) break; // no address: the peer is the client
      if (!trustedProxies.has(entry) || i === 0) return addressKey(entry);
    }
    return addressKey(peer);
  }
  // #endregion client-address
  // #endregion client-address

  // #region per-address
  const perAddress = new Map<string, number>(); // address → visitor connections, reserved or admitted
  const reserved = new Map<string, Visit>(); // correlationId → its visit, until admitted or rejected
  const admitted = new Map<string, Visit>(); // connectionId → its visit, until disposed

  /** Whether `claim` is later than every attempt of its instance, and one of them is live. */
  function isLatest(userId: string, claim: Claim): boolean {
    const live = supervisor.connectionsOf(userId).filter((c) => c.instance === claim.id);
    const attempts = [
      ...live.map((c) => admitted.get(c.id)?.claim?.attemptAt ?? Number.POSITIVE_INFINITY),
      ...[...reserved.values()]
        .filter((v) => v.userId === userId && v.claim?.id === claim.id)
        .map((v) => v.claim?.attemptAt ?? 0),
    ];
    return live.length > 0 && attempts.every((attemptAt) => attemptAt < claim.attemptAt);
  }

  const release = (address: string) => {
    const left = (perAddress.get(address) ?? 1) - 1;
    if (left > 0) perAddress.set(address, left);
    else perAddress.delete(address);
  };

  const supervisor = createSupervisor<{ address?: string }>({
    refuse: 'close', // a browser reads 4429 and the reason, not a bare failed handshake
    authenticateTimeoutMs: options.authenticateTimeoutMs ?? 10_000,
    ...(options.clock === undefined ? {} : { clock: options.clock }),
    authenticate: async (request, { signal }) => {
      const query = new URLSearchParams(request.url?.split('?')[1]);
      const token = query.get('token');
      if (token !== null) {
        const agent = agents[token];
        if (agent === undefined) return null; // 401
        return { userId: `agent:${agent}`, maxConnectionsPerUser: 10 }; // not counted per address
      }
      const visitorId = visitorOf(request.headers.cookie);
      if (visitorId === undefined) return new Refusal(401, 'no visitor cookie: load the page first');
      // Before the await: a socket that closes meanwhile no longer knows its remoteAddress.
      const address = clientAddress(request);
      if (!(await lookupVisitor(visitorId, signal))) return new Refusal(403, 'visitor blocked');
      // After the last await: an abandoned attempt (timeout, client gone, shutdown) has its
      // verdict ignored, and no event would ever carry its correlationId: reserve nothing.
      if (signal.aborted) return null;
      const userId = `visitor:${visitorId}`;
      // A reconnect with a later attempt time than every connection of its client instance
      // replaces the newest (docs/rules.md, Reconnects replace their earlier connection): let it in
      // at the cap, its predecessor's slot comes back at that one's `disposed`. An equal or
      // earlier attempt replaces nothing: the library admits it beside, so it counts.
      const claim = claimOf(query.get('wssup-instance'));
      const replaces = claim !== undefined && isLatest(userId, claim);
      if (!replaces && (perAddress.get(address) ?? 0) >= limitPerAddress) {
        return new Refusal(429, 'too many connections from your network', { retryAfterMs: 30_000 });
      }
      // Synchronously, between the check above and the return: nothing runs in between.
      const correlationId = randomUUID();
      reserved.set(correlationId, { address, userId, claim });
      perAddress.set(address, (perAddress.get(address) ?? 0) + 1);
      return { userId, maxConnectionsPerUser: 3, correlationId, data: { address } };
    },
    onOpen: (connection) => connection.send(`welcome, ${connection.userId}`),
    onMessage: (connection, data, isBinary) => connection.send(data, { binary: isBinary }),
  });

  // A verdict returned with the signal not aborted ends in exactly one of these two,
  // carrying its correlationId; an admitted connection then ends in `disposed`.
  supervisor.on('admitted', ({ correlationId, connectionId }) => {
    const visit = correlationId === undefined ? undefined : reserved.get(correlationId);
    if (correlationId === undefined || visit === undefined) return;
    reserved.delete(correlationId);
    admitted.set(connectionId, visit);
  });
  supervisor.on('rejected', ({ correlationId }) => {
    const visit = correlationId === undefined ? undefined : reserved.get(correlationId);
    if (correlationId === undefined || visit === undefined) return;
    reserved.delete(correlationId);
    release(visit.address);
  });
  supervisor.on('disposed', ({ connectionId }) => {
    const visit = admitted.get(connectionId);
    if (visit === undefined) return;
    admitted.delete(connectionId);
    release(visit.address);
  });
  // #endregion per-address

  // The page sets the visitor cookie; the widget's socket then carries it.
  const server = createServer((request, response) => {
    if (visitorOf(request.headers.cookie) === undefined) {
      const cookie = visitorCookie(randomBytes(16).toString('base64url'));
      response.setHeader('set-cookie', `${cookie}; HttpOnly; Secure; SameSite=Lax; Path=/`);
    }
    response.end('<script src="widget.js"></script>\n');
  });
  supervisor.attach(server, { path: '/chat' });
  return { server, supervisor, perAddress, visitorCookie };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { port } = readExampleFlags({
    script: 'example:per-ip-limit',
    about:
      'A support-chat widget: GET / sets a visitor cookie; connect with it to ws://127.0.0.1:<port>/chat\n' +
      '(3 per visitor, 20 per network address), or as an agent to /chat?token=agent-ann (10).\n' +
      'SECRET signs the cookie; TRUSTED_PROXIES (comma-separated addresses) may set X-Forwarded-For.',
  });
  const { server, supervisor } = createPerIpApp({
    secret: process.env.SECRET || randomBytes(32).toString('hex'),
    trustedProxies: (process.env.TRUSTED_PROXIES ?? '').split(',').filter(Boolean),
  });
  exitIfCannotListen(server);
  server.listen(port, '127.0.0.1', () => {
    console.log(`listening on ws://127.0.0.1:${(server.address() as AddressInfo).port}/chat`);
  });
  // `on`, not `once`: under npm, Ctrl-C reaches node twice, and shutdown() is idempotent.
  const stop = () =>
    void supervisor
      .shutdown() // 1001 to every client
      .catch((error: unknown) => console.error('shutdown failed', error))
      .finally(() => {
        // After shutdown() only HTTP stragglers are left: cut them, or a request whose
        // headers never end holds close() forever (examples/embedding.ts says why).
        server.close();
        server.closeAllConnections();
      });
  process.on('SIGINT', stop).on('SIGTERM', stop);
}
