import net from 'node:net';

/** A loopback TCP proxy a test can cut and restore, to take a dependency "down". */
export interface TcpProxy {
  readonly port: number;
  /** Drops every open connection and refuses new ones until `resume`. */
  cut(): void;
  /**
   * A network partition that swallows packets: open connections stop passing data (both ways)
   * and new ones are accepted but never reach the target, until `resume`, which lets the held
   * data through.
   */
  stall(): void;
  resume(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetHost: string, targetPort: number): Promise<TcpProxy> {
  const open = new Set<net.Socket>();
  let down = false;
  let stalled = false;
  const held: net.Socket[] = [];
  const server = net.createServer((client) => {
    if (down) return client.destroy();
    if (stalled) {
      client.pause();
      open.add(client);
      client.on('close', () => open.delete(client));
      client.on('error', () => {});
      held.push(client);
      return;
    }
    connect(client);
  });
  const connect = (client: net.Socket) => {
    const upstream = net.connect(targetPort, targetHost);
    for (const s of [client, upstream]) {
      open.add(s);
      s.on('close', () => open.delete(s));
      s.on('error', () => {});
    }
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    cut() {
      down = true;
      for (const s of open) s.destroy();
    },
    stall() {
      stalled = true;
      for (const s of open) s.pause();
    },
    resume() {
      down = false;
      if (stalled) {
        stalled = false;
        for (const s of open) s.resume();
        for (const client of held.splice(0)) if (!client.destroyed) (client.resume(), connect(client));
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of open) s.destroy();
        server.close(() => resolve());
      }),
  };
}
