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
 * sendToUser(userId, data, { except }), sendToRoom's and broadcast's option, was ignored,
 * and the sender got its own message; disconnectUser's
 * `{ clustr: true }` closed this process's only; connection.send's `{ bin: true }` sent
 * text. Runs after the check that `options` is an object or undefined.
 * @throws {SupervisorError} WSSUP_INVALID_ARGUMENT `<method> options: unknown key <key>, expected one of <known>`.
 */
export function refuseUnknownOptions(method: string, options: unknown, known: readonly string[]): void {
  if (options === undefined) return;
  for (const key of Object.keys(options as object)) {
    if (known.includes(key)) continue;
    let hint = '';
    if (WS_FRAMING_KEYS.includes(key))
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
 * to 65,535, 10 beyond, unmasked) and `heartbeatBytes` within maxBufferedBytes, and `chars`,
 * the longest string surely within `bytes` (a UTF-16 unit is at most 3 bytes of UTF-8), so
 * that a send pays one comparison, and counts a string's bytes only when it is that long.
 * `heartbeatBytes` is room for a heartbeat that comes while the message is still being written
 * (the ping, 2 bytes, and the `heartbeatMessage` frame): sendPing() closes with 4008 past
 * maxBufferedBytes, so without it a message that just fits closed a reader keeping up.
 */
export interface MessageFit {
  readonly maxBufferedBytes: number;
  readonly heartbeatBytes: number;
  readonly bytes: number;
  readonly chars: number;
}

/** ws's frame header for a server's message of `size` bytes (unmasked). */
export function frameHeaderBytes(size: number): number {
  return size <= 125 ? 2 : size <= 65_535 ? 4 : 10;
}

/** @param heartbeatMessage the option, resolved (at most 125 bytes). */
export function messageFit(maxBufferedBytes: number, heartbeatMessage?: string): MessageFit {
  const keepalive = heartbeatMessage === undefined ? 0 : Buffer.byteLength(heartbeatMessage);
  const heartbeatBytes = 2 + (keepalive === 0 ? 0 : frameHeaderBytes(keepalive) + keepalive);
  const room = maxBufferedBytes - heartbeatBytes;
  let bytes = room - 10;
  if (bytes <= 65_535) bytes = Math.min(room - 4, 65_535);
  if (bytes <= 125) bytes = Math.min(room - 2, 125);
  return { maxBufferedBytes, heartbeatBytes, bytes, chars: Math.floor(bytes / 3) };
}

/**
 * A message that alone takes a send buffer past maxBufferedBytes: `ws.bufferedAmount` counts a
 * chunk until its write completes, so every connection it went to, however fast it reads,
 * would be closed with 4008 (or, volatile, skip it every time). Checked once per call, before
 * anything is sent to anyone.
 * @throws {SupervisorError} WSSUP_INVALID_ARGUMENT naming the size, maxBufferedBytes and the two ways out.
 */
export function assertFits(method: string, data: SendData, fit: MessageFit): void {
  const size = sizeBeyond(data, fit);
  if (size === undefined) return;
  throw invalid(
    `${method}: a message of ${size} bytes cannot fit in maxBufferedBytes (${fit.maxBufferedBytes}) with its frame header and room for a heartbeat (${fit.heartbeatBytes} bytes): it would count in the connection's send buffer whole until written, and close even a reader keeping up with 4008; raise maxBufferedBytes above your largest message plus what you send the connection while it is written (docs/sending.md#large-messages), or send it in parts paced by connection.socket.bufferedAmount; nothing was sent`,
  );
}

/** The size of `data` in bytes when it cannot fit (see assertFits); undefined when it can. */
export function sizeBeyond(data: SendData, fit: MessageFit): number | undefined {
  if (typeof data === 'string' ? data.length <= fit.chars : data.byteLength <= fit.bytes) return undefined;
  const size = typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
  return size <= fit.bytes ? undefined : size;
}

/**
 * Another process's cluster-wide send that this process's maxBufferedBytes cannot hold (the
 * sender's limit is higher): refused here, for this process's connections only.
 */
export function deliveryRefused(
  method: string,
  size: number,
  fit: MessageFit,
  refusedSince: number,
): SupervisorError {
  const more = refusedSince === 0 ? '' : ` (${refusedSince} more such refused here since the last report)`;
  return invalid(
    `${method}(…, { cluster: true }) from another process: a message of ${size} bytes was refused here, for this process's connections, as it cannot fit in this process's maxBufferedBytes (${fit.maxBufferedBytes}) with its frame header and room for a heartbeat (${fit.heartbeatBytes} bytes), though it fit the sender's; give every process the same maxBufferedBytes${more}. Told at most once per lease renewal period.`,
  );
}

/**
 * Tells of refused deliveries at most once per `periodMs`: the first at once, each later one
 * only once `periodMs` has passed since the last told, with how many were refused meanwhile.
 * `now` may be a wall clock (the supervisor's clock.now, Date.now() by default): a reading
 * earlier than the last report's (the clock stepped back) counts as a period elapsed, or a step
 * back would hold every report back for the step's length. The count meanwhile is told only
 * with a later refusal: after a burst then silence, it is never told.
 */
export function refusalReports(
  now: () => number,
  periodMs: number,
  tell: (method: string, size: number, refusedSince: number) => void,
): { refused(method: string, size: number): void } {
  let toldAt: number | undefined;
  let since = 0;
  return {
    refused(method, size) {
      const at = now();
      if (toldAt !== undefined && at >= toldAt && at - toldAt < periodMs) {
        since += 1;
        return;
      }
      toldAt = at;
      const count = since;
      since = 0;
      tell(method, size, count);
    },
  };
}
