/**
 * The WHATWG WebSocket as the client uses it: the global `WebSocket` of
 * browsers and Node 22, or any constructor with the same shape (in Node 20,
 * `ws`'s `WebSocket`). Declared here, not taken from lib.dom, so the client
 * compiles in Node projects without DOM types and runs wherever such a
 * constructor exists.
 */

/** What a close event carries (WHATWG `CloseEvent`). */
export interface CloseEventLike {
  readonly code: number;
  readonly reason: string;
  readonly wasClean: boolean;
}

/** What a message event carries (WHATWG `MessageEvent`): a string, an ArrayBuffer or a Blob (a Buffer under ws). */
export interface MessageEventLike {
  readonly data: unknown;
}

/** A Blob, by shape (Blob is a global in browsers and in Node, but typed by different libs). */
export interface BlobLike {
  readonly size: number;
  readonly type: string;
  arrayBuffer(): Promise<ArrayBuffer>;
}

/** What `send()` takes: text, or bytes. */
export type ClientData = string | ArrayBufferLike | ArrayBufferView | BlobLike;

/** A WebSocket instance, by the members the client uses. */
export interface WebSocketLike {
  readonly readyState: number;
  binaryType: string;
  // `never`: constructors type what they send differently (lib.dom's Blob, ws's BufferLike); the
  // client passes on what the app gave its own send(), typed ClientData there.
  send(data: never): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'open' | 'error', listener: () => void): void;
  addEventListener(type: 'message', listener: (event: MessageEventLike) => void): void;
  addEventListener(type: 'close', listener: (event: CloseEventLike) => void): void;
  removeEventListener(type: 'open' | 'error', listener: () => void): void;
  removeEventListener(type: 'message', listener: (event: MessageEventLike) => void): void;
  removeEventListener(type: 'close', listener: (event: CloseEventLike) => void): void;
}

/** A WebSocket constructor: `globalThis.WebSocket`, or `ws`'s `WebSocket` in Node 20. */
export type WebSocketConstructorLike = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** WHATWG readyState values. */
export const ReadyState = { connecting: 0, open: 1, closing: 2, closed: 3 } as const;
