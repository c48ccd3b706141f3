/**
 * `createMetricsHandler`: the Prometheus endpoint as one `(req, res)` request handler, mountable
 * like the dashboard (node:http, Express, Fastify, Koa), and `listenMetrics`, the same on a server
 * of its own (what `ductwork start --metrics-port` runs).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError } from '../errors.js';

/** Anything that renders metrics in the Prometheus text format: `engine.metrics`. */
export interface MetricsSource {
  scrape(): Promise<string>;
  readonly contentType: string;
}

/** The metrics endpoint's request handler; `next` (Express) is accepted and never needed. */
export type MetricsHandler = (req: IncomingMessage, res: ServerResponse, next?: (error?: unknown) => void) => Promise<void>;

/**
 * Answers GET (and HEAD) with every metric of `metrics`, whatever the path it is mounted at:
 *
 * ```ts
 * const metrics = createMetricsHandler(engine.metrics);
 * createServer((req, res) => (req.url === '/metrics' ? metrics(req, res) : app(req, res)));
 * ```
 *
 * A scrape whose database read fails is answered 503 (Prometheus records the target as down).
 */
export function createMetricsHandler(metrics: MetricsSource): MetricsHandler {
  return async (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' });
      res.end('Metrics are read with GET.\n');
      return;
    }
    let body: string;
    try {
      body = await metrics.scrape();
    } catch (error) {
      res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
      res.end(`Could not read the metrics: ${(error as Error)?.message ?? String(error)}\n`);
      return;
    }
    res.writeHead(200, { 'content-type': metrics.contentType, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
    res.end(req.method === 'HEAD' ? undefined : body);
  };
}

/** A running metrics server. */
export interface MetricsServer {
  server: Server;
  /** Where Prometheus scrapes, e.g. `http://127.0.0.1:9464/metrics`. */
  url: string;
  close(): Promise<void>;
}

/**
 * Serves `metrics` on `host:port` (default 127.0.0.1; `0.0.0.0` for a scraper on another host:
 * the endpoint is read-only and shows pipeline and step class names, never ids or data).
 */
export async function listenMetrics(options: { metrics: MetricsSource; port: number; host?: string }): Promise<MetricsServer> {
  const { metrics, port, host = '127.0.0.1' } = options;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError('config_invalid', `--metrics-port: ${String(port)} is not a port number (0 to 65535).`, { details: { key: 'metrics-port' } });
  }
  const handler = createMetricsHandler(metrics);
  const server = createServer((req, res) => void handler(req, res));
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    throw new ConfigError('config_invalid', `Cannot serve metrics on ${host}:${port}: ${(error as Error).message}.`, { cause: error, details: { key: 'metrics-port', host, port } });
  }
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    server,
    url: `http://${shownHost}:${address.port}/metrics`,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
