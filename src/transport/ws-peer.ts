/**
 * The `ws` the runtime runs on: the app's copy (a peer dependency), loaded
 * and checked once, at import. Every value the runtime takes from ws comes
 * from here (types still come from 'ws'), so a ws it cannot run on fails
 * with a typed error, WSSUP_UNSUPPORTED_PEER, instead of a SyntaxError at
 * link time (ws 7 is CommonJS without named exports: `import { WebSocket }
 * from 'ws'` does not link) or a TypeError later.
 *
 * The handshake checks (handshake.ts) use ws's own header parsers. ws
 * exports them only since 8.20.0, so they are read from its package
 * directory by path (an absolute path is not subject to its `exports` map),
 * which every ws 8 has: the same module instances ws itself requires.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type * as Ws from 'ws';
import { SupervisorError } from '../errors.js';

/** ws's header parsers (@types/ws declares none of them). */
export interface WsParsers {
  subprotocol: { parse(header: string): Set<string> };
  extension: { parse(header: string): Record<string, object[]> };
  PerMessageDeflate: {
    new (options: object): { accept(offers: object[]): unknown };
    readonly extensionName: string;
  };
}

/** What the runtime takes from ws. */
export interface WsPeer extends WsParsers {
  WebSocket: typeof Ws.WebSocket;
  WebSocketServer: typeof Ws.WebSocketServer;
}

/**
 * Loads the ws that `require` resolves as `id` ('ws'; tests load other
 * installs by their alias) and checks that the runtime can run on it.
 *
 * @throws {SupervisorError} WSSUP_UNSUPPORTED_PEER when it is not a ws 8
 *   (ws 7 and older lack `WebSocketServer` and the header parsers).
 */
export function loadWs(require: NodeJS.Require, id: string): WsPeer {
  const ws = require(id) as Partial<WsPeer> | undefined;
  const version = (require(`${id}/package.json`) as { version?: unknown }).version;
  const dir = dirname(require.resolve(`${id}/package.json`));
  const lib = (file: string): unknown => {
    try {
      return require(join(dir, 'lib', file));
    } catch {
      return undefined;
    }
  };
  const subprotocol = lib('subprotocol.js') as WsParsers['subprotocol'] | undefined;
  const extension = lib('extension.js') as WsParsers['extension'] | undefined;
  const PerMessageDeflate = lib('permessage-deflate.js') as WsParsers['PerMessageDeflate'] | undefined;
  if (
    typeof ws?.WebSocket !== 'function' ||
    typeof ws.WebSocketServer !== 'function' ||
    typeof subprotocol?.parse !== 'function' ||
    typeof extension?.parse !== 'function' ||
    typeof PerMessageDeflate !== 'function'
  ) {
    throw new SupervisorError(
      'WSSUP_UNSUPPORTED_PEER',
      `ws-supervisor needs ws 8 (its peer dependency, ^8.17.1), but found ws ${String(version)}: ` +
        'run npm install ws@8',
    );
  }
  return {
    WebSocket: ws.WebSocket,
    WebSocketServer: ws.WebSocketServer,
    subprotocol,
    extension,
    PerMessageDeflate,
  };
}

const peer = loadWs(createRequire(import.meta.url), 'ws');

export const { subprotocol, extension, PerMessageDeflate } = peer;
// A value and a type of the same name each, as `import { WebSocket } from 'ws'` gives.
export const WebSocket = peer.WebSocket;
export type WebSocket = Ws.WebSocket;
export const WebSocketServer = peer.WebSocketServer;
export type WebSocketServer = Ws.WebSocketServer;
