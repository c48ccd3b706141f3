/**
 * Embedding the engine in a plain node:http server: POST /enrich triggers a pipeline and answers
 * with its id at once; GET /pipelines/<id> reports its status. On SIGTERM the server stops taking
 * requests and the engine drains running steps before the process exits.
 *
 *   DATABASE_URL=postgres://... PORT=3000 node dist/examples/http-server.js
 */
import { createServer } from 'node:http';
import { Ductwork, migrate } from '../src/index.js';
import { EnrichAllUsersData } from './enrichment.js';

const url = process.env.DATABASE_URL;
if (!url) throw new Error('set DATABASE_URL');
const schema = process.env.DUCTWORK_SCHEMA ?? 'ductwork';

await migrate({ url, schema }); // usually a deploy step; harmless to repeat: it runs under a lock

const engine = await Ductwork.start({ app: new URL('./enrichment.js', import.meta.url), database: { url, schema }, logger: { level: 'warn' } });

const server = createServer(async (req, res) => {
  try {
    if (req.method === 'POST' && req.url === '/enrich') {
      const handle = await EnrichAllUsersData.trigger({ daysOutdated: 7 }); // durable once this resolves
      res.writeHead(202, { 'content-type': 'application/json' }).end(JSON.stringify({ id: handle.id }));
      return;
    }
    const match = /^\/pipelines\/([0-9a-f-]{36})$/.exec(req.url ?? '');
    if (req.method === 'GET' && match) {
      const report = await engine.client.status(match[1]!);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(report));
      return;
    }
    res.writeHead(404).end();
  } catch (error) {
    res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: (error as Error).message }));
  }
});
server.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
  const address = server.address() as { port: number };
  process.stdout.write(`listening on http://127.0.0.1:${address.port}\n`);
});

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    server.close(); // no new requests
    void engine.stop().then(() => process.exit(0)); // running steps finish (job_worker.shutdown_timeout)
  });
}
