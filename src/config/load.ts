import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createRequire } from 'node:module';
import { ConfigError } from '../errors.js';
import { CONFIG_SCHEMA } from './schema.js';
import { resolveConfig, type DuctworkConfig } from './config.js';

// Required on first use, not imported: the package entry point reaches this module, and every
// engine and worker thread would otherwise hold the YAML parser (~10 MB each) without reading YAML.
let yamlModule: typeof import('yaml') | undefined;
function yaml(): typeof import('yaml') {
  return (yamlModule ??= createRequire(import.meta.url)('yaml') as typeof import('yaml'));
}

/** The configuration file used when none is named. */
export const DEFAULT_CONFIG_FILE = 'config/ductwork.yml';

/** What the command line adds on top of the file. */
export interface ConfigFlags {
  role?: string;
  pipelines?: string;
  forking?: 'none' | 'default';
  /** `--database-url`. */
  databaseUrl?: string;
  /** `--schema`. */
  schema?: string;
}

/** Where the configuration came from, for messages. */
export interface LoadedConfig {
  config: DuctworkConfig;
  /** The file read, or undefined when none existed (all defaults). */
  file: string | undefined;
  /** The environment section used, when the file has sections. */
  section: string | undefined;
  /**
   * Where `database.url` and `database.schema` came from, for messages: `--database-url`,
   * `DATABASE_URL`, `<file>: database.url`, or `default` (the schema only).
   */
  sources: { url: string | undefined; schema: string };
}

/**
 * Reads the YAML configuration: the file named by `-c`, else `config/ductwork.yml` when it exists.
 * A file may be flat, or split into environment sections with anchors and merge keys
 * (`default: &default`, `production: { <<: *default }`), chosen by DUCTWORK_ENV, then NODE_ENV,
 * then `development`, falling back to `default`.
 *
 * One rule for every command: a flag, then the environment, then the file, then the default.
 * `role`: `--role` > `DUCTWORK_ROLE` > file; `database.url`: `--database-url` > `DATABASE_URL` >
 * file; `database.schema`: `--schema` > `DUCTWORK_SCHEMA` > file > `ductwork`. Every error names
 * where the bad value came from: the file and dotted key, the variable, or the flag.
 */
export function loadConfig(options: { file?: string; flags?: ConfigFlags; env?: NodeJS.ProcessEnv } = {}): LoadedConfig {
  const env = options.env ?? process.env;
  const explicit = options.file !== undefined;
  const path = resolve(options.file ?? DEFAULT_CONFIG_FILE);
  let raw: Record<string, unknown> = {};
  let file: string | undefined;
  let section: string | undefined;
  if (existsSync(path)) {
    file = options.file ?? DEFAULT_CONFIG_FILE;
    const picked = pickSection(parseYaml(path, file), file, env);
    raw = picked.values;
    section = picked.section;
  } else if (explicit) {
    throw new ConfigError('config_invalid', `${options.file}: configuration file not found (looked at ${path}).`, { details: { source: options.file } });
  }
  const source = file ? (section ? `${file} (${section})` : file) : 'configuration';
  const config = resolveConfig(raw, source);
  const flags = options.flags ?? {};
  // Values from outside the file are checked on their own, so a bad one is blamed on its source.
  const override = (values: Record<string, unknown>, from: string) => resolveConfig(values, from);
  if (env.DUCTWORK_ROLE) config.role = override({ role: env.DUCTWORK_ROLE }, 'DUCTWORK_ROLE').role;
  if (flags.role !== undefined) config.role = override({ role: flags.role }, '--role').role;
  if (flags.pipelines !== undefined) config.pipelines = override({ pipelines: flags.pipelines }, '--pipelines').pipelines;
  if (flags.forking !== undefined) config.forking = flags.forking;

  const fileKey = (key: string) => `${file ?? 'configuration'}: ${key}`;
  const sources: LoadedConfig['sources'] = {
    url: config.database.url === undefined ? undefined : fileKey('database.url'),
    schema: raw.database && (raw.database as Record<string, unknown>).schema !== undefined ? fileKey('database.schema') : 'default',
  };
  if (env.DATABASE_URL) [config.database.url, sources.url] = [env.DATABASE_URL, 'DATABASE_URL'];
  if (flags.databaseUrl !== undefined) [config.database.url, sources.url] = [flags.databaseUrl, '--database-url'];
  if (env.DUCTWORK_SCHEMA) [config.database.schema, sources.schema] = [override({ database: { schema: env.DUCTWORK_SCHEMA } }, 'DUCTWORK_SCHEMA').database.schema, 'DUCTWORK_SCHEMA'];
  if (flags.schema !== undefined) [config.database.schema, sources.schema] = [override({ database: { schema: flags.schema } }, '--schema').database.schema, '--schema'];
  return { config, file, section, sources };
}

function parseYaml(path: string, name: string): unknown {
  const document = yaml().parseDocument(readFileSync(path, 'utf8'), { merge: true, prettyErrors: true });
  const [error] = document.errors;
  if (error) {
    const where = error.linePos?.[0] ? ` at line ${error.linePos[0].line}, column ${error.linePos[0].col}` : '';
    throw new ConfigError('config_invalid', `${name}: invalid YAML${where}: ${error.message.split('\n')[0]}`, { details: { source: name } });
  }
  return document.toJS({ maxAliasCount: 1000 }) ?? {};
}

/** A flat file is used as is; a file of environment sections yields the current environment's. */
function pickSection(parsed: unknown, file: string, env: NodeJS.ProcessEnv): { values: Record<string, unknown>; section: string | undefined } {
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError('config_invalid', `${file}: must be a mapping of configuration keys or of environment sections.`, { details: { source: file } });
  }
  const top = parsed as Record<string, unknown>;
  const keys = Object.keys(top);
  if (keys.length === 0 || keys.some((key) => key in CONFIG_SCHEMA)) return { values: top, section: undefined };
  const wanted = env.DUCTWORK_ENV || env.NODE_ENV || 'development';
  const section = wanted in top ? wanted : 'default' in top ? 'default' : undefined;
  if (section === undefined) {
    throw new ConfigError(
      'config_invalid',
      `${file}: no "${wanted}" section (from ${env.DUCTWORK_ENV ? 'DUCTWORK_ENV' : env.NODE_ENV ? 'NODE_ENV' : 'the default environment'}) and no "default" section; sections here: ${keys.join(', ')}.`,
      { details: { source: file } },
    );
  }
  const values = top[section];
  if (values !== null && (typeof values !== 'object' || Array.isArray(values))) {
    throw new ConfigError('config_invalid', `${file}: section "${section}" must be a mapping of configuration keys.`, { details: { source: file, key: section } });
  }
  return { values: (values ?? {}) as Record<string, unknown>, section };
}
