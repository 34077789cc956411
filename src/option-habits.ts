/**
 * The options a user of ws or Socket.IO passes to createSupervisor() first,
 * and where each of them is here. Spelling alone misled: `onConnection` came
 * out as "here probably maxConnections" (a number), and `port` or `server`
 * said nothing of attach().
 */

/** Names (lower case) that stand for one of our options. */
const meant: Readonly<Record<string, string>> = {
  onconnection: 'onOpen',
  onconnect: 'onOpen',
  ondisconnect: 'onClose',
  verifyclient: 'authenticate', // ws
  allowrequest: 'authenticate', // Socket.IO
  pinginterval: 'heartbeatIntervalMs', // Socket.IO
  pingtimeout: 'heartbeatIntervalMs', // Socket.IO: here the timeout is the interval
  cors: 'allowedOrigins', // Socket.IO
  maxhttpbuffersize: 'maxPayloadBytes', // Socket.IO
};

const listens = 'the supervisor listens on no port of its own: supervisor.attach(server)';
const wsOption =
  "an option of ws's WebSocketServer: pass new WebSocketServer({ noServer: true, ... }) as webSocketServer";

/** Names (lower case) of what is not an option here, with where it goes instead. */
const elsewhere: Readonly<Record<string, string>> = {
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
};

/**
 * What the message about the unknown option `name` adds after "expected one
 * of the known options": `, here probably "onOpen"`, `; <where it goes>`, or
 * undefined when `name` is no habit of ws or Socket.IO.
 */
export function habitHint(name: string): string | undefined {
  const key = name.toLowerCase();
  if (Object.hasOwn(meant, key)) return `, here probably "${meant[key]}"`;
  if (Object.hasOwn(elsewhere, key)) return `; ${elsewhere[key]}`;
  return undefined;
}
