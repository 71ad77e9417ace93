// /healthz, /readyz and /metrics on small plain-HTTP listeners (loopback by default).
import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';

export interface HttpEndpoints {
  ready: () => boolean;
  registry?: Registry;
}

export function parseAddr(addr: string): { host: string; port: number } {
  const i = addr.lastIndexOf(':');
  return { host: addr.slice(0, i) || '0.0.0.0', port: Number(addr.slice(i + 1)) };
}

export async function listen(addr: string, ep: HttpEndpoints): Promise<Server | undefined> {
  if (addr === '0') return undefined;
  const server = createServer((req, res) => {
    const url = req.url ?? '/';
    if (url === '/healthz') {
      res.writeHead(200).end('ok\n');
    } else if (url === '/readyz') {
      const ok = ep.ready();
      res.writeHead(ok ? 200 : 503).end(ok ? 'ok\n' : 'not ready\n');
    } else if (url === '/metrics' && ep.registry) {
      ep.registry.metrics().then(
        (body) => res.writeHead(200, { 'content-type': ep.registry?.contentType }).end(body),
        () => res.writeHead(500).end(),
      );
    } else {
      res.writeHead(404).end('not found\n');
    }
  });
  const { host, port } = parseAddr(addr);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  return server;
}
