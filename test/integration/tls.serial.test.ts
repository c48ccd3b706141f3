/**
 * Ductwork opens its pools' sockets itself (src/db/watched-socket.ts) and postgres.js layers TLS
 * on them: an `sslmode=require` URL must still get an encrypted session, for the pool, its
 * transactions and an engine. The server is an embedded PostgreSQL this test starts and turns TLS
 * on for (a self-signed certificate from test/fixtures/tls), never the machine's server.
 */
import assert from 'node:assert/strict';
import { appendFileSync, chmodSync, chownSync, copyFileSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { connect } from '../../src/db/connect.js';
import { discardEmbeddedPostgres, startEmbeddedPostgres, type EmbeddedDatabase } from '../../src/db/embedded.js';
import { migrate } from '../../src/db/migrate.js';
import { DuctworkClient } from '../../src/client/client.js';
import { startTestEngine } from '../helpers/engine.js';
import { CountedPipeline } from '../fixtures/pipelines.js';

const fixtures = fileURLToPath(new URL('../../../test/fixtures/tls/', import.meta.url));
let server: EmbeddedDatabase;
let scratch: string;

before(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'ductwork-tls-'));
  server = await startEmbeddedPostgres({ dataDir: join(scratch, 'pg'), join: false });
  // The server reads its key only if it owns it and nobody else can read it.
  const owner = statSync(server.dataDir);
  for (const file of ['server.crt', 'server.key']) {
    const target = join(server.dataDir, file);
    copyFileSync(join(fixtures, file), target);
    chmodSync(target, 0o600);
    if (process.getuid?.() === 0) chownSync(target, owner.uid, owner.gid);
  }
  appendFileSync(join(server.dataDir, 'postgresql.conf'), "\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n");
  await server.restart();
});
after(async () => {
  if (server) await discardEmbeddedPostgres(server);
  rmSync(scratch, { recursive: true, force: true });
});

const tlsUrl = () => `${server.url}${server.url.includes('?') ? '&' : '?'}sslmode=require`;

test('an sslmode=require URL gets TLS sessions for queries and transactions', async () => {
  const sql = connect({ url: tlsUrl(), schema: 'public', max: 2, applicationName: 'ductwork-tls-test' });
  try {
    const sessions = await Promise.all([1, 2, 3].map(() => sql`select ssl from pg_stat_ssl where pid = pg_backend_pid()`));
    assert.deepEqual(sessions.map((rows) => rows[0]!.ssl), [true, true, true]);
    assert.equal(await sql.begin(async (tx) => (await tx`select ssl from pg_stat_ssl where pid = pg_backend_pid()`)[0]!.ssl as boolean), true);
  } finally {
    await sql.end({ timeout: 1 });
  }
  const plain = connect({ url: server.url, schema: 'public', max: 1 });
  try {
    assert.equal((await plain`select ssl from pg_stat_ssl where pid = pg_backend_pid()`)[0]!.ssl, false, 'the same server without sslmode is not encrypted: the test can tell');
  } finally {
    await plain.end({ timeout: 1 });
  }
});

test('an engine on a TLS URL runs a pipeline to the end, with every session of it encrypted', async () => {
  const schema = 'tls';
  const sql = connect({ url: tlsUrl(), schema, max: 4, applicationName: 'ductwork-test' });
  await migrate(sql, schema);
  const dir = mkdtempSync(join(scratch, 'steps-'));
  const engine = await startTestEngine({ schema, url: tlsUrl(), sql, drop: async () => {} }, { pipelines: ['CountedPipeline'] });
  try {
    const client = new DuctworkClient({ sql, schema });
    const handle = await client.trigger(CountedPipeline, { dir, ms: 1, n: 0 });
    assert.deepEqual(await handle.result({ timeoutMs: 30_000 }), { dir, ms: 1, n: 3 });
    const sessions = await sql`
      select a.application_name, s.ssl from pg_stat_activity a join pg_stat_ssl s on s.pid = a.pid
      where a.application_name like ${'%' + engine.processId}`;
    assert.ok(sessions.length >= 3, `the engine's pool, liveness and LISTEN sessions (saw ${JSON.stringify(sessions)})`);
    assert.ok(sessions.every((s) => s.ssl === true), JSON.stringify(sessions));
  } finally {
    await engine.stop();
    await sql.end({ timeout: 1 });
  }
});
