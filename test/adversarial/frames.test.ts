/**
 * Frame abuse after a completed handshake, written byte for byte by a raw
 * client: each breaks one rule of RFC 6455 §5. ws answers with the close code
 * the RFC asks for (1002 protocol error, 1007 invalid data, 1008 too many
 * fragments, 1009 too big); the connection drains, reaches `disposed` once the
 * client has gone, and leaves nothing behind. Its `disposed` event says the
 * code the client read and, in `socketError`, ws's name for the rule broken.
 */
import type { Socket } from 'node:net';
import { describe, expect, it, vi } from 'vitest';
import { type WebSocket, WebSocketServer } from 'ws';
import {
  clientFrame,
  closePayload,
  expectLeakFree,
  frameHeader,
  ioDeadlineMs,
  Opcode,
  serverFrames,
  startTarget,
  tcpClosed,
  within,
} from '../helpers/adversary.js';
import { rawConnect, rawWebSocket, readUntil, upgradeRequest } from '../helpers/cleanup.js';
import { closed, connect, userFromQuery } from '../helpers/server.js';

const maxPayloadBytes = 1024;
const utf8 = (bytes: number[]) => Buffer.from(bytes);

/** [what the peer does, the close code ws sends, the `WS_ERR_*` code of ws's error, the bytes]. */
const abuses: [string, number, string, Buffer][] = [
  [
    'an unmasked client frame',
    1002,
    'WS_ERR_EXPECTED_MASK',
    clientFrame(Opcode.text, 'hello', { masked: false }),
  ],
  ['reserved data opcode 0x3', 1002, 'WS_ERR_INVALID_OPCODE', clientFrame(0x3, 'x')],
  ['reserved control opcode 0xB', 1002, 'WS_ERR_INVALID_OPCODE', clientFrame(0xb, '')],
  [
    'RSV1 set without a negotiated extension',
    1002,
    'WS_ERR_UNEXPECTED_RSV_1',
    clientFrame(Opcode.text, 'x', { rsv: 0b100 }),
  ],
  ['RSV2 set', 1002, 'WS_ERR_UNEXPECTED_RSV_2_3', clientFrame(Opcode.text, 'x', { rsv: 0b010 })],
  ['RSV3 set', 1002, 'WS_ERR_UNEXPECTED_RSV_2_3', clientFrame(Opcode.binary, 'x', { rsv: 0b001 })],
  [
    'a ping of 126 bytes (control frames carry at most 125)',
    1002,
    'WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH',
    clientFrame(Opcode.ping, Buffer.alloc(126)),
  ],
  [
    'a fragmented ping (FIN clear on a control frame)',
    1002,
    'WS_ERR_EXPECTED_FIN',
    clientFrame(Opcode.ping, 'x', { fin: false }),
  ],
  [
    'a continuation frame with no message started',
    1002,
    'WS_ERR_INVALID_OPCODE',
    clientFrame(Opcode.continuation, 'x'),
  ],
  [
    'a new text frame in the middle of a fragmented message',
    1002,
    'WS_ERR_INVALID_OPCODE',
    Buffer.concat([clientFrame(Opcode.text, 'a', { fin: false }), clientFrame(Opcode.text, 'b')]),
  ],
  [
    'a close frame with a one-byte body',
    1002,
    'WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH',
    clientFrame(Opcode.close, Buffer.from([0x03])),
  ],
  [
    'a close frame with the reserved code 1005',
    1002,
    'WS_ERR_INVALID_CLOSE_CODE',
    clientFrame(Opcode.close, closePayload(1005)),
  ],
  [
    'a close frame with code 999',
    1002,
    'WS_ERR_INVALID_CLOSE_CODE',
    clientFrame(Opcode.close, closePayload(999)),
  ],
  [
    'a message above maxPayloadBytes',
    1009,
    'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH',
    clientFrame(Opcode.binary, Buffer.alloc(maxPayloadBytes + 1, 1)),
  ],
  [
    'fragments that add up to more than maxPayloadBytes',
    1009,
    'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH',
    Buffer.concat([
      clientFrame(Opcode.binary, Buffer.alloc(maxPayloadBytes, 1), { fin: false }),
      clientFrame(Opcode.continuation, Buffer.alloc(1, 1)),
    ]),
  ],
  [
    'a frame header announcing 2^63 - 1 bytes',
    1009,
    'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH',
    frameHeader(Opcode.binary, 2n ** 63n - 1n),
  ],
  [
    // ws's own cap on fragments per message (maxFragments, 16,384 by default): empty ones
    // grow no payload, so maxPayloadBytes never sees them.
    'a message of 16,385 empty fragments',
    1008,
    'WS_ERR_TOO_MANY_BUFFERED_PARTS',
    Buffer.concat([
      clientFrame(Opcode.binary, Buffer.alloc(0), { fin: false }),
      ...Array.from({ length: 16_384 }, () =>
        clientFrame(Opcode.continuation, Buffer.alloc(0), { fin: false }),
      ),
    ]),
  ],
  [
    'invalid UTF-8 in a text frame',
    1007,
    'WS_ERR_INVALID_UTF8',
    clientFrame(Opcode.text, utf8([0x68, 0xc3, 0x28])),
  ],
  [
    'invalid UTF-8 split across fragments',
    1007,
    'WS_ERR_INVALID_UTF8',
    Buffer.concat([
      clientFrame(Opcode.text, utf8([0xe2, 0x82]), { fin: false }),
      clientFrame(Opcode.continuation, utf8([0x28])),
    ]),
  ],
  [
    'a UTF-16 surrogate encoded in UTF-8',
    1007,
    'WS_ERR_INVALID_UTF8',
    clientFrame(Opcode.text, utf8([0xed, 0xa0, 0x80])),
  ],
  [
    'a close reason that is not UTF-8',
    1007,
    'WS_ERR_INVALID_UTF8',
    clientFrame(Opcode.close, Buffer.concat([closePayload(1000), utf8([0xff, 0xfe])])),
  ],
];

describe('frame abuse is closed with the code RFC 6455 asks for, and leaves nothing behind', () => {
  it.each(abuses)('%s: close %i', async (_name, code, wsError, bytes) => {
    const delivered: Buffer[] = [];
    const t = await startTarget({
      supervisor: {
        maxPayloadBytes,
        onMessage: (_connection, data) => {
          delivered.push(data);
        },
      },
    });
    const socket = await rawWebSocket(t.port, 'abuser');
    const frames = serverFrames(socket);
    socket.write(bytes);

    const received = await within(frames.closeCode(), ioDeadlineMs, 'a close frame from the server');
    expect(received).toBe(code);
    // The client (a plain TCP socket) answers the server's FIN with its own.
    await within(tcpClosed(socket), ioDeadlineMs, 'the server to close the TCP connection');
    await expectLeakFree(t.supervisor);
    expect(delivered).toEqual([]);
    // What an operator reads: the code the peer got (not 1006, the close that followed), and
    // which rule it broke.
    expect(t.events.disposed).toEqual([
      expect.objectContaining({
        userId: 'abuser',
        reason: 'error',
        closeCode: received,
        socketError: { code: wsError, message: expect.any(String) },
        opened: true,
      }),
    ]);
    expect(t.errors).toEqual([]);
  });

  it('a valid message before the abuse is delivered; nothing after it is', async () => {
    const delivered: string[] = [];
    const t = await startTarget({
      supervisor: {
        onMessage: (_connection, data) => {
          delivered.push(data.toString());
        },
      },
    });
    const socket = await rawWebSocket(t.port, 'abuser');
    const frames = serverFrames(socket);
    socket.write(
      Buffer.concat([
        clientFrame(Opcode.text, 'before'),
        clientFrame(Opcode.text, 'x', { masked: false }),
        clientFrame(Opcode.text, 'after'),
      ]),
    );
    expect(await within(frames.closeCode(), ioDeadlineMs, 'a close frame from the server')).toBe(1002);
    await within(tcpClosed(socket), ioDeadlineMs, 'the server to close the TCP connection');
    await expectLeakFree(t.supervisor);
    expect(delivered).toEqual(['before']);
  });
});

// The same abuse before the 101: in the bytes that came with the upgrade request (ws
// gets them as `head`), or arriving while an asynchronous authenticate runs (buffered
// in the socket). Neither reaches the app; the connection is admitted, answered with
// the close code once open, and ends like any other.
describe('frame abuse sent before the handshake completed', () => {
  const early: [string, number, Buffer][] = [
    [
      'a message above maxPayloadBytes',
      1009,
      clientFrame(Opcode.binary, Buffer.alloc(maxPayloadBytes + 1, 1)),
    ],
    ['an unmasked client frame', 1002, clientFrame(Opcode.text, 'hello', { masked: false })],
  ];
  it.each(
    early.flatMap(([name, code, bytes]) => [
      [name, 'with the upgrade request', code, bytes] as const,
      [name, 'while authenticate runs', code, bytes] as const,
    ]),
  )('%s, sent %s: close %i, and nothing left', async (_name, when, code, bytes) => {
    const verdicts: (() => void)[] = [];
    const delivered: Buffer[] = [];
    const t = await startTarget({
      supervisor: {
        maxPayloadBytes,
        onMessage: (_connection, data) => {
          delivered.push(data);
        },
        authenticate: (request) =>
          when === 'with the upgrade request'
            ? userFromQuery(request)
            : new Promise((resolve) => verdicts.push(() => resolve(userFromQuery(request)))),
      },
    });
    const socket = await rawConnect(t.port);
    if (when === 'with the upgrade request') {
      socket.write(Buffer.concat([Buffer.from(upgradeRequest('abuser')), bytes]));
    } else {
      socket.write(upgradeRequest('abuser'));
      await vi.waitFor(() => expect(verdicts).toHaveLength(1));
      socket.write(bytes);
      verdicts[0]?.();
    }
    const response = await readUntil(socket, (read) => read.includes('\r\n\r\n'));
    expect(response.toString('latin1')).toMatch(/^HTTP\/1\.1 101/);
    const frames = serverFrames(socket, response.subarray(response.indexOf('\r\n\r\n') + 4));

    const received = await within(frames.closeCode(), ioDeadlineMs, 'a close frame from the server');
    expect(received).toBe(code);
    await within(tcpClosed(socket), ioDeadlineMs, 'the server to close the TCP connection');
    await expectLeakFree(t.supervisor);
    expect(delivered).toEqual([]);
    expect(t.events.disposed).toMatchObject([{ userId: 'abuser', reason: 'error', closeCode: received }]);
    expect(t.errors).toEqual([]);
  });
});

// With perMessageDeflate, ws's permessage-deflate ends a message too: one that inflates past
// maxPayloadBytes (a small compressed frame: 1009), or one that is not deflate data (1007,
// with zlib's own code). A ws client negotiates the extension; the bad frame is written on
// its socket, under its own checks.
describe('compressed abuse', () => {
  const abuses: [string, number, string, (ws: WebSocket) => void][] = [
    [
      'a compressed message that inflates past maxPayloadBytes',
      1009,
      'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH',
      (ws) => ws.send('x'.repeat(maxPayloadBytes * 10)),
    ],
    [
      'a compressed frame that is not deflate data',
      1007,
      'Z_DATA_ERROR',
      (ws) =>
        (ws as unknown as { _socket: Socket })._socket.write(
          clientFrame(Opcode.text, Buffer.from([0xff, 0xff, 0xff, 0xff]), { rsv: 0b100 }),
        ),
    ],
  ];
  it.each(abuses)('%s: close %i', async (_name, code, errorCode, abuse) => {
    const delivered: Buffer[] = [];
    const t = await startTarget({
      supervisor: {
        webSocketServer: new WebSocketServer({
          noServer: true,
          perMessageDeflate: true,
          maxPayload: maxPayloadBytes,
        }),
        onMessage: (_connection, data) => {
          delivered.push(data);
        },
      },
    });
    const ws = await connect(t.url('abuser'), { perMessageDeflate: true });
    expect(ws.extensions).toContain('permessage-deflate');
    const closing = closed(ws);
    abuse(ws);
    const received = (await within(closing, ioDeadlineMs, 'the server to close')).code;
    expect(received).toBe(code);
    await expectLeakFree(t.supervisor);
    expect(delivered).toEqual([]);
    expect(t.events.disposed).toEqual([
      expect.objectContaining({
        userId: 'abuser',
        reason: 'error',
        closeCode: received,
        socketError: { code: errorCode, message: expect.any(String) },
      }),
    ]);
    expect(t.errors).toEqual([]);
  });

  // The client hangs up (FIN) right after its bad frame. zlib inflates on the thread pool, so
  // which comes first is a race: the error while the socket is open (ws sends 1007), or the FIN
  // first (ws has ended its side of the socket by then and its close(1007) sends nothing, yet the
  // error still carries 1007: reported as such, the event named a code nobody got). Either way
  // the event must say what went over the wire: the close frame's code, or 1006 when none went.
  it('a bad compressed frame and then a FIN: disposed says the close code on the wire (1007, or 1006 when none went)', async () => {
    const t = await startTarget({
      supervisor: {
        webSocketServer: new WebSocketServer({
          noServer: true,
          perMessageDeflate: true,
          maxPayload: maxPayloadBytes,
        }),
      },
    });
    const socket = await rawConnect(t.port);
    socket.write(upgradeRequest('abuser', { headers: { 'Sec-WebSocket-Extensions': 'permessage-deflate' } }));
    const response = await readUntil(socket, (read) => read.includes('\r\n\r\n'));
    expect(response.toString('latin1')).toMatch(/^HTTP\/1\.1 101[\s\S]*permessage-deflate/);
    const frames = serverFrames(socket, response.subarray(response.indexOf('\r\n\r\n') + 4));
    socket.end(clientFrame(Opcode.text, Buffer.from([0xff, 0xff, 0xff, 0xff]), { rsv: 0b100 }));

    await within(tcpClosed(socket), ioDeadlineMs, 'the server to close the TCP connection');
    const closes = frames.frames.filter((frame) => frame.opcode === Opcode.close);
    expect(frames.frames).toEqual(closes); // nothing but a close frame, if any
    const onTheWire = closes.length === 0 ? 1006 : (closes[0] as { payload: Buffer }).payload.readUInt16BE(0);
    expect([1006, 1007]).toContain(onTheWire);
    await expectLeakFree(t.supervisor);
    expect(t.events.disposed).toEqual([
      expect.objectContaining({
        userId: 'abuser',
        reason: 'error',
        closeCode: onTheWire,
        socketError: { code: 'Z_DATA_ERROR', message: expect.any(String) },
      }),
    ]);
    expect(t.errors).toEqual([]);
  });
});
