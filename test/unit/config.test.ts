import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { resolveConfig, settingFor } from '../../src/config/config.js';
import { loadConfig } from '../../src/config/load.js';
import { CONFIG_SCHEMA, type KeySpec, type SectionSpec } from '../../src/config/schema.js';
import type { ConfigError } from '../../src/errors.js';

/** Every leaf key of the schema with its dotted path. */
function leaves(spec: SectionSpec, prefix = ''): [string, KeySpec][] {
  return Object.entries(spec).flatMap(([key, child]) =>
    typeof (child as KeySpec).kind === 'string' && typeof (child as KeySpec).doc === 'string'
      ? [[prefix + key, child as KeySpec] as [string, KeySpec]]
      : leaves(child as SectionSpec, `${prefix}${key}.`),
  );
}
function nested(path: string, value: unknown): Record<string, unknown> {
  return path.split('.').reduceRight<unknown>((inner, key) => ({ [key]: inner }), value) as Record<string, unknown>;
}
function read(config: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((node, key) => (node as Record<string, unknown>)[key], config);
}

describe('every configuration key', () => {
  const defaults = resolveConfig({});
  for (const [path, spec] of leaves(CONFIG_SCHEMA)) {
    test(path, () => {
      assert.ok(spec.doc.length > 10, 'documented');
      const expectedDefault = spec.kind === 'pipelines' ? '*' : spec.default;
      assert.deepEqual(read(defaults, path), expectedDefault, 'default');
      const good = spec.kind === 'enum' ? spec.values.at(-1) : spec.kind === 'string' ? 'some-value' : spec.kind === 'pipelines' ? ['A', 'B'] : spec.min + 1;
      assert.deepEqual(read(resolveConfig(nested(path, good)), path), good, 'accepts a valid value');
      const bad = spec.kind === 'string' ? 42 : 'not-valid-here';
      assert.throws(
        () => resolveConfig(nested(path, spec.kind === 'pipelines' ? [bad, 3] : bad), 'file.yml'),
        (error: ConfigError) => error.code === 'config_invalid' && error.message.startsWith(`file.yml: ${path} `),
      );
    });
  }

  test('the defaults of the original engine', () => {
    assert.equal(defaults.job_worker.count, 5);
    assert.equal(defaults.job_worker.max_retry, 3);
    assert.equal(defaults.job_worker.max_crash, 10);
    assert.equal(defaults.job_worker.polling_timeout, 1);
    assert.equal(defaults.job_worker.shutdown_timeout, 20);
    assert.equal(defaults.pipeline_advancer.count, 3);
    assert.equal(defaults.pipeline_advancer.max_retry, 10);
    assert.equal(defaults.pipeline_advancer.steps.max_depth, -1);
    assert.equal(defaults.supervisor.reaper_timeout, 300);
    assert.equal(defaults.supervisor.shutdown_timeout, 30);
    assert.equal(defaults.role, 'all');
    assert.equal(defaults.forking, 'none', 'threaded is our default');
  });

  test('unknown keys are rejected by dotted path with the nearest key', () => {
    assert.throws(() => resolveConfig({ pipeline_advancer: { steps: { max_dept: 3 } } }, 'x.yml'), /x\.yml: pipeline_advancer\.steps\.max_dept is not a configuration key; did you mean "pipeline_advancer\.steps\.max_depth"\?/);
    assert.throws(() => resolveConfig({ zzz: 1 }), /zzz is not a configuration key\.$/);
  });

  test('per pipeline and per step values, most specific first', () => {
    const config = resolveConfig({ job_worker: { max_retry: { default: 1, Orders: 2, Enrich: { default: 4, Load: 5 } } } });
    assert.equal(settingFor(config.job_worker.max_retry, 3, 'Enrich', 'Load'), 5);
    assert.equal(settingFor(config.job_worker.max_retry, 3, 'Enrich', 'Other'), 4);
    assert.equal(settingFor(config.job_worker.max_retry, 3, 'Orders', 'Load'), 2);
    assert.equal(settingFor(config.job_worker.max_retry, 3, 'Elsewhere'), 1);
    assert.equal(settingFor({ Orders: 2 }, 3, 'Elsewhere'), 3, 'no default: the built-in default, not a crash');
    assert.throws(() => resolveConfig({ job_worker: { count: { Orders: { Load: 2 } } } }), /job_worker\.count\.Orders must be an integer/);
  });
});

describe('loading YAML files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ductwork-config-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  const sections = file(
    'sections.yml',
    `default: &default\n  role: all\n  job_worker: { count: 2 }\n  pipelines: "*"\nproduction:\n  <<: *default\n  job_worker: { count: 9 }\n`,
  );

  test('environment sections chosen by DUCTWORK_ENV, then NODE_ENV, else default', () => {
    assert.equal(loadConfig({ file: sections, env: { DUCTWORK_ENV: 'production' } }).config.job_worker.count, 9);
    assert.equal(loadConfig({ file: sections, env: { NODE_ENV: 'production' } }).config.job_worker.count, 9);
    const fallback = loadConfig({ file: sections, env: { NODE_ENV: 'staging' } });
    assert.equal(fallback.section, 'default');
    assert.equal(fallback.config.job_worker.count, 2);
  });

  test('a flat file, DUCTWORK_ROLE over the file, flags over both, DATABASE_URL as fallback', () => {
    const flat = file('flat.yml', 'role: worker\ndatabase:\n  schema: app_jobs\npipelines:\n  - A\n  - B\n');
    const loaded = loadConfig({ file: flat, env: { DATABASE_URL: 'postgres://db/app' } });
    assert.equal(loaded.section, undefined);
    assert.deepEqual([loaded.config.role, loaded.config.pipelines, loaded.config.database.url], ['worker', ['A', 'B'], 'postgres://db/app']);
    assert.equal(loadConfig({ file: flat, env: { DUCTWORK_ROLE: 'advancer' } }).config.role, 'advancer');
    assert.equal(loadConfig({ file: flat, env: { DUCTWORK_ROLE: 'advancer' }, flags: { role: 'all', pipelines: 'C' } }).config.role, 'all');
    assert.deepEqual(loadConfig({ file: flat, flags: { pipelines: 'C, D' } }).config.pipelines, ['C', 'D']);
    const withUrl = file('url.yml', 'database:\n  url: postgres://file/db\n');
    assert.equal(loadConfig({ file: withUrl, env: { DATABASE_URL: 'postgres://env/db' } }).config.database.url, 'postgres://file/db');
  });

  test('no file at the default path means defaults; a named missing file is an error', () => {
    const loaded = loadConfig({ env: {} });
    assert.equal(loaded.file, undefined);
    assert.equal(loaded.config.role, 'all');
    assert.throws(() => loadConfig({ file: join(dir, 'missing.yml'), env: {} }), /missing\.yml: configuration file not found/);
  });
});
