import { DuctworkClient } from '../client/client.js';
import { resolveConfig } from '../config/config.js';
import { checkConnection, connect, redactUrl } from '../db/connect.js';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../db/embedded.js';
import { migrate } from '../db/migrate.js';
import { createLogger } from '../log.js';
import { Engine } from '../runtime/engine.js';
import { CatalogRefresh } from '../demo/pipelines.js';
import { ConfigError } from '../errors.js';

/**
 * `ductwork demo`: runs the catalog pipeline (expand, divide/combine, divert/converge, collapse)
 * on DATABASE_URL, or on an embedded development PostgreSQL when none is set, with live progress.
 */
export async function demoCommand(options: { items?: string; schema?: string }): Promise<void> {
  const items = Number(options.items ?? 300);
  if (!Number.isInteger(items) || items < 0 || items > 100_000) throw new ConfigError('config_invalid', `--items: ${JSON.stringify(options.items)} is not an integer from 0 to 100000.`);
  const out = (line: string) => process.stdout.write(`${line}\n`);
  let embedded: EmbeddedDatabase | undefined;
  let url = process.env.DATABASE_URL;
  if (!url) {
    out('No DATABASE_URL: starting an embedded PostgreSQL for development (data in .ductwork/pg). Production uses DATABASE_URL.');
    embedded = await startEmbeddedPostgres({ log: out });
    url = embedded.url;
    const database = embedded;
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.once(signal, () => void database.stop().finally(() => process.exit(130)));
    }
  }
  const schema = options.schema ?? 'ductwork_demo';
  const sql = connect({ url, schema, max: 3, applicationName: 'ductwork-demo' });
  let engine: Engine | undefined;
  try {
    await checkConnection(sql, url);
    await migrate(sql, schema);
    out(`Database ${redactUrl(url)}, schema "${schema}" migrated.`);
    engine = new Engine(
      resolveConfig({
        app: new URL('../demo/pipelines.js', import.meta.url).href,
        database: { url, schema },
        job_worker: { count: 50, polling_timeout: 0.1 },
        pipeline_advancer: { polling_timeout: 0.1 },
      }),
      createLogger('warn'),
    );
    await engine.start();
    const client = new DuctworkClient({ sql, schema });
    const started = performance.now();
    const handle = await client.trigger(CatalogRefresh, { items });
    out(`Triggered CatalogRefresh ${handle.id} over ${items} items: expand → divide/combine → divert/converge → collapse.`);
    const total = 2 + items * 6; // ListItems, Summarize, and six steps per item
    const tty = Boolean(process.stdout.isTTY);
    let lastPlain = 0;
    for (;;) {
      const report = await client.status(handle.id);
      const byTransition = await sql`select to_transition, count(*)::int as n from steps where run_id = ${report.runId} and status = 'completed' group by 1 order by 1`;
      const done = report.steps.completed;
      const elapsed = ((performance.now() - started) / 1000).toFixed(1);
      const line = [`steps ${done}/${total}`, ...byTransition.map((r) => `${r.to_transition} ${r.n}`), `${elapsed}s`].join(' · ');
      if (tty) process.stdout.write(`\r\x1b[2K${line}`);
      else if (performance.now() - lastPlain > 1000 || report.status !== 'in_progress') {
        out(line);
        lastPlain = performance.now();
      }
      if (report.status !== 'in_progress') {
        if (tty) process.stdout.write('\n');
        if (report.status === 'halted') throw new Error(`the demo pipeline halted: ${report.halts.map((h) => h.reason).join(', ')}`);
        const summary = report.output as { items: number; published: number; backordered: number };
        out(`Completed in ${elapsed}s: ${summary.items} items, ${summary.published} published, ${summary.backordered} backordered.`);
        // Both work after the demo has exited: --embedded starts the development database again.
        const where = `--schema ${schema}${embedded ? ' --embedded' : ''}`;
        out(`Inspect it:  npx ductwork status ${handle.id} ${where}`);
        out(`Browse it:   npx ductwork dashboard ${where}   (then open http://127.0.0.1:4000/)`);
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, tty ? 100 : 250));
    }
  } finally {
    await engine?.stop();
    await sql.end({ timeout: 2 });
    await embedded?.stop();
  }
}
