/**
 * The checks of what the app asks to send, shared by the connection handle's
 * send() and the registry's sendToUser(), broadcast() and sendToRoom(), so that every way
 * of sending refuses the same bad input with the same typed error, before
 * anything is sent (ws would send `undefined` or `null` as an empty binary
 * message, and a number as a binary one).
 */
import { describeValue, SupervisorError } from './errors.js';

/** What the connection handle, sendToUser() and broadcast() send: what `ws` sends. */
export type SendData = string | Buffer | ArrayBuffer | ArrayBufferView;

const invalid = (message: string) => new SupervisorError('WSSUP_INVALID_ARGUMENT', message);

/** @throws {SupervisorError} WSSUP_INVALID_ARGUMENT unless `data` is a string, Buffer, ArrayBuffer or view. */
export function checkData(data: unknown): void {
  if (
    typeof data !== 'string' &&
    !Buffer.isBuffer(data) &&
    !(data instanceof ArrayBuffer) &&
    !ArrayBuffer.isView(data)
  ) {
    // The usual mistake is a message object: ws would send it as an empty binary frame.
    const serialise = Array.isArray(data) || isPlainObject(data) ? ' (JSON.stringify() it first)' : '';
    throw invalid(
      `data must be a string, a Buffer, an ArrayBuffer or a typed array view, got ${describeValue(data)}${serialise}`,
    );
  }
  if (typeof data !== 'string' && isDetached(data)) {
    throw invalid(
      `data must be a string, a Buffer, an ArrayBuffer or a typed array view, got ${describeValue(data)} whose memory was transferred (detached): nothing is left to send`,
    );
  }
}

/**
 * A buffer given away (postMessage's transfer list, ArrayBuffer's transfer()): ws
 * would throw a TypeError without a code, or send a Buffer as an empty message.
 * Only a detached buffer or an empty one has 0 bytes; only a detached one cannot
 * be viewed. A view's `buffer` is read, not its length (a DataView's throws then).
 */
function isDetached(data: ArrayBuffer | ArrayBufferView): boolean {
  const buffer = ArrayBuffer.isView(data) ? data.buffer : data;
  if (!(buffer instanceof ArrayBuffer) || buffer.byteLength !== 0) return false;
  try {
    new Uint8Array(buffer);
  } catch {
    return true;
  }
  return false;
}

function isPlainObject(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/** What every way of sending takes per message: the frame type, and whether it may be dropped. */
export interface MessageOptions {
  binary?: boolean | undefined;
  volatile?: boolean | undefined;
}

/**
 * Validates without copying: the connection handle's send() runs it on every
 * message, and hands the app's own options object to ws.
 * @throws {SupervisorError} WSSUP_INVALID_ARGUMENT for options that are not an object, or a `binary` or `volatile` that is not a boolean.
 */
export function assertSendOptions(options: unknown): asserts options is MessageOptions | undefined {
  if (options === undefined) return;
  if (typeof options !== 'object' || options === null) {
    throw invalid(`send options must be an object such as { binary: true }, got ${describeValue(options)}`);
  }
  const { binary, volatile } = options as { binary?: unknown; volatile?: unknown };
  if (binary !== undefined && typeof binary !== 'boolean') {
    throw invalid(`options.binary must be a boolean, got ${describeValue(binary)}`);
  }
  if (volatile !== undefined && typeof volatile !== 'boolean') {
    throw invalid(`options.volatile must be a boolean, got ${describeValue(volatile)}`);
  }
}

/** ws's own send options: a connection's framing is the transport's, never a message's. */
const WS_FRAMING_KEYS: readonly string[] = ['compress', 'fin', 'mask'];

const HANDLE_SEND_KEYS: readonly string[] = ['binary', 'volatile'];

/**
 * Refuses a key `method` does not know, in the same words for every way of sending:
 * broadcast(data, { except }), sendToRoom's option and Socket.IO's socket.broadcast.emit()
 * habit, was ignored, and the sender got its own message; disconnectUser's
 * `{ clustr: true }` closed this process's only; connection.send's `{ bin: true }` sent
 * text. Runs after the check that `options` is an object or undefined.
 * @throws {SupervisorError} WSSUP_INVALID_ARGUMENT `<method> options: unknown key <key>, expected one of <known>`.
 */
export function refuseUnknownOptions(method: string, options: unknown, known: readonly string[]): void {
  if (options === undefined) return;
  for (const key of Object.keys(options as object)) {
    if (known.includes(key)) continue;
    let hint = '';
    if (method === 'broadcast' && key === 'except')
      hint = ' (everyone but one connection: { filter: (c) => c.id !== connection.id })';
    else if (WS_FRAMING_KEYS.includes(key))
      hint =
        " (ws's own send option: a connection's framing and compression are the transport's, not a message's)";
    throw invalid(`${method} options: unknown key ${key}, expected one of ${known.join(', ')}${hint}`);
  }
}

/**
 * The connection handle's send options: as assertSendOptions, and a key other than
 * `binary` and `volatile` refused as sendToUser() refuses one. Only an options object pays for the
 * key check: send(data), the usual call, returns at the first comparison.
 * @throws {SupervisorError} WSSUP_INVALID_ARGUMENT as assertSendOptions and refuseUnknownOptions.
 */
export function assertHandleSendOptions(options: unknown): asserts options is MessageOptions | undefined {
  if (options === undefined) return;
  assertSendOptions(options);
  // No array: this runs on every message sent with options (an echo's { binary: isBinary }).
  for (const key in options) {
    if (key !== 'binary' && key !== 'volatile' && Object.hasOwn(options, key))
      refuseUnknownOptions('send', options, HANDLE_SEND_KEYS);
  }
}

/**
 * Validates and copies, for sends that keep the options past the call (the
 * registry reuses them for every connection of a user or of the process).
 * @throws {SupervisorError} as assertSendOptions.
 */
export function checkSendOptions(options: unknown): { binary?: boolean; volatile?: boolean } | undefined {
  assertSendOptions(options);
  const binary = options?.binary;
  const volatile = options?.volatile;
  if (volatile === undefined) return binary === undefined ? undefined : { binary };
  return binary === undefined ? { volatile } : { binary, volatile };
}

/**
 * The largest message one connection's send buffer can hold, per supervisor (computed once):
 * `bytes` with its frame header (`ws` frames a server's message with 2 bytes up to 125, 4 up
 * to 65,535, 10 beyond, unmasked) within maxBufferedBytes, and `chars`, the longest string
 * surely within `bytes` (a UTF-16 unit is at most 3 bytes of UTF-8), so that a send pays one
 * comparison, and counts a string's bytes only when it is that long.
 */
export interface MessageFit {
  readonly maxBufferedBytes: number;
  readonly bytes: number;
  readonly chars: number;
}

export function messageFit(maxBufferedBytes: number): MessageFit {
  let bytes = maxBufferedBytes - 10;
  if (bytes <= 65_535) bytes = Math.min(maxBufferedBytes - 4, 65_535);
  if (bytes <= 125) bytes = Math.min(maxBufferedBytes - 2, 125);
  return { maxBufferedBytes, bytes, chars: Math.floor(bytes / 3) };
}

/**
 * A message that alone takes a send buffer past maxBufferedBytes: `ws.bufferedAmount` counts a
 * chunk until its write completes, so every connection it went to, however fast it reads,
 * would be closed with 4008 (or, volatile, skip it every time). Checked once per call, before
 * anything is sent to anyone.
 * @throws {SupervisorError} WSSUP_INVALID_ARGUMENT naming the size, maxBufferedBytes and the two ways out.
 */
export function assertFits(method: string, data: SendData, fit: MessageFit): void {
  if (typeof data === 'string' ? data.length <= fit.chars : data.byteLength <= fit.bytes) return;
  const size = typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
  if (size <= fit.bytes) return;
  throw invalid(
    `${method}: a message of ${size} bytes cannot fit in maxBufferedBytes (${fit.maxBufferedBytes}) with its frame header: it would count in the connection's send buffer whole until written, and close even a reader keeping up with 4008; raise maxBufferedBytes above your largest message, or send it in parts paced by connection.socket.bufferedAmount; nothing was sent`,
  );
}
