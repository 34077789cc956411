import { createSupervisor, type SupervisorOptions } from '../../src/index.js';

/** A supervisor whose user is ?user=, answering each message with its text (serveForTest's tests). */
export function createEcho(overrides: Partial<SupervisorOptions> = {}) {
  return createSupervisor({
    preset: 'test',
    authenticate: (request) => new URLSearchParams(request.url?.split('?')[1]).get('user'),
    onMessage: (connection, data) => connection.send(data.toString()),
    ...overrides,
  });
}
