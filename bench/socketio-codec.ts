/**
 * The few Engine.IO v4 / Socket.IO v5 packets the bench's raw client needs,
 * over the websocket transport only (one Engine.IO packet per WebSocket text
 * frame), default namespace, text events:
 *
 *   server: 0{"sid":…,"pingInterval":…}    Engine.IO open
 *   client: 40                              Socket.IO connect to "/"
 *   server: 40{"sid":…}  or  44{"message":…} connected, or refused by a middleware
 *   client: 42["message","…"]               an event; the server's echo is the same packet
 *   server: 2   client: 3                   Engine.IO ping / pong (the server pings)
 *
 * Spec: https://socket.io/docs/v4/engine-io-protocol/ and
 * https://socket.io/docs/v4/socket-io-protocol/.
 */

/** The upgrade request's target: Engine.IO v4 straight onto the websocket transport. */
export const socketIoTarget = (user: string) => `/socket.io/?EIO=4&transport=websocket&user=${user}`;

export const connectPacket = '40';
export const pongPacket = '3';

/** A Socket.IO event packet on the default namespace, without an ack id. */
export const eventPacket = (event: string, ...args: unknown[]) => `42${JSON.stringify([event, ...args])}`;

export type IncomingPacket =
  | 'open'
  | 'ping'
  | 'connected'
  | 'refused'
  | 'event'
  | 'disconnected'
  | 'closed'
  | 'other';

const char = (c: string) => c.charCodeAt(0);
const [OPEN, CLOSE, PING, MESSAGE] = ['0', '1', '2', '4'].map(char) as [number, number, number, number];
const [CONNECT, DISCONNECT, EVENT, CONNECT_ERROR] = ['0', '1', '2', '4'].map(char) as [
  number,
  number,
  number,
  number,
];

/** What a text frame from the server is, read from its first two bytes only. */
export function classify(payload: Buffer): IncomingPacket {
  switch (payload[0]) {
    case OPEN:
      return 'open';
    case PING:
      return 'ping';
    case CLOSE:
      return 'closed';
    case MESSAGE:
      switch (payload[1]) {
        case EVENT:
          return 'event';
        case CONNECT:
          return 'connected';
        case CONNECT_ERROR:
          return 'refused';
        case DISCONNECT:
          return 'disconnected';
        default:
          return 'other';
      }
    default:
      return 'other';
  }
}
