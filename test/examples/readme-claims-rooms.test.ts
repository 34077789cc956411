/**
 * README, Coming from Socket.IO: examples/rooms.ts checks what the client
 * sent ("Its parseCommand and isRoom, outside the quoted region, check what
 * the client sent"): a room name join() would refuse (not a string, empty,
 * over 256 bytes, a character a user id may not hold), which would throw WSSUP_INVALID_ARGUMENT and close the
 * connection with 1011 from onMessage, is answered with an error instead,
 * and the connection stays open. The built example, as `npm run example:rooms` runs it.
 */
import { once } from 'node:events';
import { expect, it } from 'vitest';
import WebSocket from 'ws';
import { runProgram } from '../helpers/process.js';
import { closed } from '../helpers/server.js';

it('a bad room name from a client gets an error answer, not a 1011: the connection stays open', async () => {
  const program = runProgram('dist/examples/rooms.js', ['--port', '0']);
  const [, url = ''] = await program.waitFor(/listening on (ws:\/\/127\.0\.0\.1:\d+)/);
  // A bad room in the URL is left out, not joined (and nothing throws in onOpen).
  const ws = new WebSocket(
    `${url}/?user=mo&room=&room=${'r'.repeat(257)}&room=a%00b&room=%E2%80%AEx&room=%EF%BB%BFok&room=ok`,
  );
  await once(ws, 'open');
  const ask = async (command: unknown) => {
    const answer = once(ws, 'message');
    ws.send(JSON.stringify(command));
    return JSON.parse(String((await answer)[0])) as unknown;
  };
  const refused = { error: 'expected {"join"}, {"leave"} or {"to","text"}' };
  const characters = [
    'a\u0000b',
    'line\nbreak',
    'x\u202eevil',
    'a\u2028b',
    'alice\ufffd',
    'a\ud800',
    '\ufeffok',
    'o\u200bk',
  ];
  for (const room of ['', 'r'.repeat(257), ...characters, 5, null, ['lobby'], { name: 'lobby' }]) {
    expect(await ask({ join: room })).toEqual(refused);
    expect(await ask({ leave: room })).toEqual(refused);
    expect(await ask({ to: room, text: 'hi' })).toEqual(refused);
  }
  expect(ws.readyState).toBe(WebSocket.OPEN);
  // The good room from the URL was joined: a message to it from another member reaches mo (the
  // example refuses a post from a non-member).
  const other = new WebSocket(`${url}/?user=nel&room=ok`);
  await once(other, 'open');
  const reached = once(ws, 'message');
  other.send(JSON.stringify({ to: 'ok', text: 'hello' }));
  expect(JSON.parse(String((await reached)[0]))).toEqual({ room: 'ok', from: 'nel', text: 'hello' });

  const closes = Promise.all([closed(ws), closed(other)]);
  program.child.kill('SIGTERM');
  expect((await closes).map((close) => close.code)).toEqual([1001, 1001]);
  expect(await program.exited).toBe(0);
});
