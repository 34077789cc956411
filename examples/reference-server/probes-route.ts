/**
 * The load balancer's probes (Kubernetes' liveness and readiness):
 *
 *   GET /healthz   200 `ok` while this process serves HTTP. Never fails because
 *                  Redis is away or a shutdown is draining: a failed liveness
 *                  probe restarts the pod, which would cut a drain short.
 *   GET /readyz    200 `ok` while the supervisor admits (stats().admission);
 *                  503 with the reason (`shutting-down`, `store-unavailable`)
 *                  while it refuses every upgrade, so the balancer stops
 *                  sending clients here. A full process is still ready.
 *
 * Both answer in O(1) and name no user: open, like /stats.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Supervisor } from '../../src/index.js';
import { sendText } from './http.js';

type Route = (request: IncomingMessage, response: ServerResponse) => void;

export const livenessRoute: Route = (_request, response) => sendText(response, 200, 'ok\n');

export function createReadinessRoute(supervisor: Supervisor): Route {
  return (_request, response) => {
    const { admission } = supervisor.stats();
    if (admission.admitting) sendText(response, 200, 'ok\n');
    else sendText(response, 503, `${admission.reason}\n`);
  };
}
