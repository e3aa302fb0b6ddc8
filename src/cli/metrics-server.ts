/**
 * `x0x node --metrics-port`: serves `agent.metrics()` at `/metrics` over
 * plain HTTP, on 127.0.0.1 only, because the figures describe the node's
 * peers and traffic and the endpoint has no authentication.
 *
 * @internal
 * @module
 */

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import type { Agent } from '../agent.js';
import { PROMETHEUS_CONTENT_TYPE } from '../prometheus.js';

/** A running metrics endpoint. */
export interface MetricsServer {
  /** The endpoint's URL, e.g. `http://127.0.0.1:9464/metrics`. */
  readonly url: string;
  /** Stops listening and drops open connections. */
  readonly close: () => Promise<void>;
}

/** Host the endpoint binds; see the module comment. */
export const METRICS_HOST = '127.0.0.1';

/**
 * Starts the endpoint on `port` (0 picks a free one). `GET` and `HEAD` of
 * `/metrics` answer 200 with the exposition; a closed agent answers 503,
 * other paths 404 and other methods 405.
 */
export async function startMetricsServer(agent: Agent, port: number): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found; metrics are at /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    agent.metrics().then(
      (text) => {
        res.writeHead(200, { 'Content-Type': PROMETHEUS_CONTENT_TYPE });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (err: unknown) => {
        res.writeHead(503, { 'Content-Type': 'text/plain' }).end(`${(err as Error).message}\n`);
      },
    );
  });
  await listen(server, port);
  const { port: bound } = server.address() as AddressInfo;
  return {
    url: `http://${METRICS_HOST}:${bound}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, METRICS_HOST, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
