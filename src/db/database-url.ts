import { ConfigError } from '../errors.js';

/** Schemes postgres.js accepts, and the typos people make of them. */
const SCHEMES = ['postgres:', 'postgresql:'];

/**
 * Refuses a database URL that is not one, before the driver sees it: the driver throws a bare
 * `TypeError: Invalid URL` for garbage and silently accepts any scheme (`postgress://`).
 * `source` says where the URL came from (`DATABASE_URL`, `--database-url`, a file's key), so the
 * message points at the thing to fix.
 */
export function assertDatabaseUrl(url: string, source: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(
      'config_invalid',
      `${source}: ${JSON.stringify(shown(url))} is not a URL; expected postgres://user:password@host:5432/database.`,
      { details: { key: 'database.url', source } },
    );
  }
  if (!SCHEMES.includes(parsed.protocol)) {
    const guess = /^postgre?s+(ql)?s*:$/i.test(parsed.protocol) || /^pg|^psql/i.test(parsed.protocol) ? ' (did you mean "postgres://"?)' : '';
    throw new ConfigError(
      'config_invalid',
      `${source}: the URL scheme "${parsed.protocol}//" is not a PostgreSQL one${guess}; expected postgres:// or postgresql://.`,
      { details: { key: 'database.url', source } },
    );
  }
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
    throw new ConfigError('config_invalid', `${source}: ${JSON.stringify(shown(url))} is not a URL of the form postgres://user:password@host:5432/database.`, {
      details: { key: 'database.url', source },
    });
  }
  if (parsed.port !== '' && (Number(parsed.port) < 1 || Number(parsed.port) > 65535)) {
    throw new ConfigError('config_invalid', `${source}: port ${parsed.port} is not a TCP port.`, { details: { key: 'database.url', source } });
  }
}

/** The URL without its password, for the message. */
function shown(url: string): string {
  return url.replace(/:[^:@/]*@/, ':***@');
}
