/**
 * The WHATWG WebSocket as the client uses it: the global `WebSocket` of
 * browsers and Node 22, or any constructor with the same shape (in Node 20,
 * `ws`'s `WebSocket`). Declared here, not taken from lib.dom, so the client
 * compiles in Node projects without DOM types and runs wherever such a
 * constructor exists.
 */

/** What a close event carries (WHATWG `CloseEvent`). */
export interface CloseEventLike {
  /** The close code: the peer's, or 1006 when no close frame came. */
  readonly code: number;
  /** The close reason, as sent ('' without one). */
  readonly reason: string;
  /** Whether the close handshake completed. */
  readonly wasClean: boolean;
}

/** What a message event carries (WHATWG `MessageEvent`): a string, an ArrayBuffer or a Blob (a Buffer under ws). */
export interface MessageEventLike {
  /** The message: a string for text, else binary as `binaryType` says. */
  readonly data: unknown;
}

/** A Blob, by shape (Blob is a global in browsers and in Node, but typed by different libs). */
export interface BlobLike {
  /** Its length in bytes. */
  readonly size: number;
  /** Its MIME type ('' when unknown). */
  readonly type: string;
  /** Its bytes. */
  arrayBuffer(): Promise<ArrayBuffer>;
}

/** What `send()` takes: text, or bytes. */
export type ClientData = string | ArrayBufferLike | ArrayBufferView | BlobLike;

/** A WebSocket instance, by the members the client uses. */
export interface WebSocketLike {
  /** 0 connecting, 1 open, 2 closing, 3 closed (WHATWG). */
  readonly readyState: number;
  /** How binary messages arrive: set from the client's `binaryType` option when given, else the constructor's default ('blob' in browsers, 'nodebuffer' under ws). */
  binaryType: string;
  /** Sends a message on the open socket. */
  // `never`: constructors type what they send differently (lib.dom's Blob, ws's BufferLike); the
  // client passes on what the app gave its own send(), typed ClientData there.
  send(data: never): void;
  /** Starts the close handshake with this code and reason (WHATWG allows 1000 and 3000–4999). */
  close(code?: number, reason?: string): void;
  /**
   * Destroys the connection at once, with no close handshake: `ws`'s (a browser's WebSocket has
   * none). The client calls it on a socket it gives up, which under `ws` a close() alone would
   * keep open for 30 s waiting for a server that no longer answers.
   */
  terminate?(): void;
  /** Listens for the socket's `open`, `error`, `message` and `close` events. */
  addEventListener(type: 'open' | 'error', listener: () => void): void;
  addEventListener(type: 'message', listener: (event: MessageEventLike) => void): void;
  addEventListener(type: 'close', listener: (event: CloseEventLike) => void): void;
  /** Removes a listener addEventListener added. */
  removeEventListener(type: 'open' | 'error', listener: () => void): void;
  removeEventListener(type: 'message', listener: (event: MessageEventLike) => void): void;
  removeEventListener(type: 'close', listener: (event: CloseEventLike) => void): void;
}

/** A WebSocket constructor: `globalThis.WebSocket`, or `ws`'s `WebSocket` in Node 20. */
export type WebSocketConstructorLike = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** WHATWG readyState values. */
export const ReadyState = { connecting: 0, open: 1, closing: 2, closed: 3 } as const;
