/**
 * The options a user of ws or Socket.IO passes first, to createSupervisor()
 * or createClient(), and where each of them is here. Spelling alone misled:
 * `onConnection` came out as "here probably maxConnections" (a number), and
 * `port`, `server` or socket.io-client's `auth` got the bare list of options.
 * (Nothing of Node's is imported: the client's modules run in a browser.)
 */
import { guessName, sayGuess } from './closest-name.js';

/** Names, in lower case, that stand for one of our options (`meant`) or for none (`elsewhere`). */
interface Habits {
  meant: Readonly<Record<string, string>>;
  elsewhere: Readonly<Record<string, string>>;
}

const listens = 'the supervisor listens on no port of its own: supervisor.attach(server)';
const wsOption =
  "an option of ws's WebSocketServer: pass new WebSocketServer({ noServer: true, ... }) as webSocketServer";

const supervisorHabits: Habits = {
  meant: {
    onconnection: 'onOpen',
    onconnect: 'onOpen',
    ondisconnect: 'onClose',
    verifyclient: 'authenticate', // ws
    allowrequest: 'authenticate', // Socket.IO
    pinginterval: 'heartbeatIntervalMs', // Socket.IO
    pingtimeout: 'heartbeatIntervalMs', // Socket.IO: here the timeout is the interval
    cors: 'allowedOrigins', // Socket.IO
    maxhttpbuffersize: 'maxPayloadBytes', // Socket.IO
    adapter: 'cluster', // Socket.IO's Redis adapter: cluster mode (docs/cluster.md)
  },
  elsewhere: {
    port: listens,
    host: listens,
    server: listens,
    path: 'the path goes to attach(): supervisor.attach(server, { path })',
    noserver: wsOption,
    permessagedeflate: wsOption,
    handleprotocols: wsOption,
    clienttracking: wsOption,
    skiputf8validation: wsOption,
    autopong: wsOption,
    allowsynchronousevents: wsOption,
    // Socket.IO's, each with its row in docs/coming-from-socket-io.md.
    connectionstaterecovery:
      'there is no connection state recovery: the reconnecting client sends the id of the last ' +
      'message it got (in the url or a first message) and the app replays from its own store',
    transports: 'WebSocket only: there is no long-polling fallback',
    serveclient:
      "the server serves no client: bundle ws-supervisor/client (or serve the package's dist/ " +
      "with an import map for xstate), or use the browser's WebSocket",
  },
};

const noHeaders =
  "a browser's WebSocket sends no headers and no auth payload: put the token in the url, " +
  "which may be async: url: async () => 'wss://host/?token=' + (await getToken())";

const noAcks =
  'there are no acknowledgements: put an id in the message and have the server answer with a message that carries it';

/** socket.io-client's options. */
const clientHabits: Habits = {
  meant: {
    reconnectiondelay: 'backoff.baseMs',
    reconnectiondelaymax: 'backoff.capMs',
    timeout: 'connectTimeoutMs',
  },
  elsewhere: {
    auth: noHeaders,
    query:
      "the query goes in the url, which may be a function, called for each attempt: url: () => 'wss://host/?room=' + room",
    randomizationfactor: 'there is no equivalent: the jitter is always full (backoff)',
    extraheaders: noHeaders,
    headers: noHeaders,
    transports: 'WebSocket only: there is no long-polling fallback',
    // Not the name alone: socket.io-client counts retries after a disconnect, maxAttempts failures.
    reconnectionattempts:
      'reconnectionAttempts: n is maxAttempts: n + 1 (a lost connection is the first failure, once it had lasted stableAfterMs)',
    // socket.io-client's `reconnection: false` (one attempt, no retry) is maxAttempts: 1.
    reconnection:
      'reconnection: false is maxAttempts: 1 (suspended after the first failure, until resume()); ' +
      'else it always reconnects (but after a code it must not retry, or after maxAttempts failures in a row): client.close() stops it',
    reconnect:
      'it always reconnects (but after a code it must not retry, or after maxAttempts failures in a row): client.close() stops it',
    autoconnect: 'it connects at once: create it when it should connect',
    // socket.io-client's path defaults to '/socket.io/': here the server's path is in the url.
    path: "the path goes in the url: 'wss://host/chat' (the server's attach(server, { path: '/chat' }))",
    withcredentials:
      "a browser's WebSocket sends the server's cookies by itself, as their SameSite rules allow " +
      '(then set allowedOrigins on the server)',
    acktimeout: noAcks,
    retries: noAcks,
  },
};

/**
 * What the message about the unknown option `name` says is allowed, after
 * "expected". A habit names where the option goes here, alone: a list after
 * it read as that call's arguments. A sure guess (closest-name.ts) is named
 * alone too, since the list of every option after it (about 500 characters
 * for createSupervisor()) buried the hint; a guess that may be wrong (two
 * names as near, or one several edits away) is named with the list after
 * it, so the right option is still there to find. No guess: the list.
 */
function allowed(habits: Habits, name: string, known: Iterable<string>): string {
  const key = name.toLowerCase();
  if (Object.hasOwn(habits.meant, key))
    return `one of the known options, here probably "${habits.meant[key]}"`;
  if (Object.hasOwn(habits.elsewhere, key)) return `one of the known options; ${habits.elsewhere[key]}`;
  const list = `(${[...known].join(', ')})`;
  const guess = guessName(name, known);
  if (guess === undefined) return `one of the known options ${list}`;
  const probably = `one of the known options, here probably ${sayGuess(guess.names)}`;
  return guess.sure ? probably : `${probably} ${list}`;
}

/** What an unknown option of createSupervisor() is refused with (InvalidOptionError's `allowed`). */
export const supervisorOptionAllowed = (name: string, known: Iterable<string>): string =>
  allowed(supervisorHabits, name, known);

/** What an unknown option of createClient() is refused with (InvalidOptionError's `allowed`). */
export const clientOptionAllowed = (name: string, known: Iterable<string>): string =>
  allowed(clientHabits, name, known);
