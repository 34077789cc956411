/**
 * A TCP proxy on port 0 that can let a network go dark: no FIN, no RST, both TCP sockets kept
 * open (a NAT entry expired, a phone's radio switched networks). Closed after the test.
 */
import { once } from 'node:events';
import { type AddressInfo, createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { onTestFinished } from 'vitest';

/** The proxy: every flow forwarded to `upstreamPort` until blackhole(); restore() lets new flows pass. */
export async function startBlackholeProxy(upstreamPort: number) {
  let dark = false;
  const flows: Socket[] = [];
  const server: Server = createServer((downstream) => {
    const upstream = tcpConnect(upstreamPort, '127.0.0.1');
    flows.push(downstream, upstream);
    // A flow dark once is dark for good (its NAT entry is gone): nothing more either way.
    let flowDark = false;
    const forward = (from: Socket, to: Socket) =>
      from.on('data', (chunk) => {
        if (dark) flowDark = true;
        if (!flowDark) to.write(chunk);
      });
    forward(downstream, upstream);
    forward(upstream, downstream);
    // Errors and ends are not passed on either: a dark network carries no FIN nor RST.
    downstream.on('error', () => {});
    upstream.on('error', () => {});
    downstream.on('end', () => {
      if (!dark && !flowDark) upstream.end();
    });
    upstream.on('end', () => {
      if (!dark && !flowDark) downstream.end();
    });
    downstream.on('close', () => {
      if (!dark && !flowDark) upstream.destroy();
    });
    upstream.on('close', () => {
      if (!dark && !flowDark) downstream.destroy();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  onTestFinished(async () => {
    for (const socket of flows) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  const { port } = server.address() as AddressInfo;
  return {
    port,
    blackhole: () => {
      dark = true;
    },
    /** The network is back: new flows pass (the dark ones stay dark). */
    restore: () => {
      dark = false;
    },
  };
}
