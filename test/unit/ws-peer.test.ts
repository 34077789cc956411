/**
 * The ws the runtime runs on is the app's (a peer dependency), checked at
 * import by loadWs (src/transport/ws-peer.ts). Each case loads a real,
 * separate install: ws 7.5.10 (the devDependency alias `ws-7`), ws 8.17.1
 * (`ws-8.17.1`, the oldest the peer range accepts) and the lockfile's ws.
 *
 * Before: ws 7 made `import { WebSocket } from 'ws'` fail to link (a
 * SyntaxError: ws 7 has no named exports), and the header parsers were read
 * from ws's exports, which only ws 8.20.0 and later have: with ws 8.17.1 to
 * 8.19.0, inside the peer range, the import threw a plain Error without a code.
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { SupervisorError } from '../../src/index.js';
import { loadWs } from '../../src/transport/ws-peer.js';

const require = createRequire(import.meta.url);

describe('the ws peer dependency', () => {
  it('ws 7 is refused with WSSUP_UNSUPPORTED_PEER, naming the version found and what to install', () => {
    expect((require('ws-7/package.json') as { version: string }).version).toBe('7.5.10');
    let thrown: unknown;
    try {
      loadWs(require, 'ws-7');
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(SupervisorError);
    expect(thrown).toMatchObject({ code: 'WSSUP_UNSUPPORTED_PEER' });
    expect((thrown as Error).message).toMatch(/found ws 7\.5\.10: run npm install ws@8$/);
  });

  it('ws 8.17.1, which does not export its header parsers, is accepted, with its own parsers', () => {
    const other = require('ws-8.17.1') as typeof import('ws') & { subprotocol?: unknown };
    expect(other.subprotocol).toBeUndefined(); // not exported before ws 8.20.0
    const peer = loadWs(require, 'ws-8.17.1');
    expect(peer.WebSocketServer).toBe(other.WebSocketServer);
    expect(peer.WebSocketServer).not.toBe(WebSocketServer);
    expect(peer.subprotocol.parse('chat, superchat')).toEqual(new Set(['chat', 'superchat']));
    expect(() => peer.subprotocol.parse('chat,,')).toThrow(SyntaxError);
    expect(Object.keys(peer.extension.parse('permessage-deflate; client_max_window_bits'))).toEqual([
      peer.PerMessageDeflate.extensionName,
    ]);
  });

  it("the app's ws is the one the runtime uses: the same classes as `import 'ws'`", () => {
    const peer = loadWs(require, 'ws');
    expect(peer.WebSocket).toBe(WebSocket);
    expect(peer.WebSocketServer).toBe(WebSocketServer);
  });
});
