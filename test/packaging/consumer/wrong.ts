// Each marked line must be a type error: if the library's types were `any`
// (ws types missing), they would all compile. The test expects exactly these.
import { type AppHookError, type ConnectionHandle, createSupervisor, Refusal } from 'ws-supervisor';
import { createDashboard, type DashboardOptions } from 'ws-supervisor/dashboard';

export function wrong(connection: ConnectionHandle): void {
  const n: number = connection.socket; // WRONG: a ws WebSocket, not a number
  console.log(n);
}

createSupervisor({
  authenticate: () => 'user',
  webSocketServer: 'not a server', // WRONG: not a ws WebSocketServer
});

createSupervisor({
  authenticate: () => 'user',
  maxConnectionsPerUser: '20', // WRONG: a number
});

createSupervisor<{ plan: string }>({
  authenticate: () => ({ userId: 'user', data: { plan: 1 } }), // WRONG: plan is a string
});

console.log(new Refusal(404)); // WRONG: 401, 403, 429 or 503

const typed = createSupervisor<{ plan: string }>({ authenticate: () => 'user' });
const plan: number | undefined = typed.connection('id')?.data?.plan; // WRONG: the registry's data is typed
console.log(plan);

typed.on('rejected', (event) => {
  const limit: number = event.limit; // WRONG: set on 'user-limit' only, until `reason` is checked
  if (event.reason === 'bad-handshake') console.log(limit, event.userId.length); // WRONG: no user id yet
});

// The README's Registry: a hook that calls its own supervisor needs a block body.
const chat = createSupervisor({
  authenticate: () => 'user',
  onMessage: (_connection, data) => chat.broadcast(data), // WRONG: TS7022 and TS7023, an expression body
});

// No open default: who may see the dashboard (its users) is said at the call.
createDashboard(typed); // WRONG: the options, authorize in them, are required
const ops: DashboardOptions = { basePath: '/ops' }; // WRONG: authorize is required (TS2741 in 5.9 and 7)
createDashboard(typed, ops);

// A filter cannot travel to another process, whatever `cluster` turns out to be at run time.
export function everywhere(cluster: boolean): unknown {
  return typed.broadcast('hi', { cluster, filter: () => true }); // WRONG: a filter needs cluster false
}

// AppHookError's hook is a union: a misspelt hook is no case of it.
export function hookOf(error: AppHookError): string {
  switch (error.hook) {
    case 'onMesage': // WRONG: no such hook
      return 'typo';
    default:
      return error.hook;
  }
}

// The cluster option names exactly one of redis and store: neither, or both, throws at run time.
createSupervisor({ authenticate: () => 'user', cluster: {} }); // WRONG: neither redis nor store
export function both(store: import('ws-supervisor').SlotStore): unknown {
  return createSupervisor({ authenticate: () => 'user', cluster: { redis: 'redis://h:6380', store } }); // WRONG: both
}
