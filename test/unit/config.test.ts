import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { nearest, resolveConfig, settingFor } from '../../src/config/config.js';
import { loadConfig } from '../../src/config/load.js';
import { checkAppSettings } from '../../src/config/app-settings.js';
import { CONFIG_SCHEMA, type KeySpec, type SectionSpec } from '../../src/config/schema.js';
import { ConfigError } from '../../src/errors.js';

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
      const good = spec.kind === 'enum' ? spec.values.at(-1) : spec.kind === 'string' ? 'some-value' : spec.kind === 'pipelines' ? ['A', 'B'] : spec.kind === 'duration' ? 90 : spec.min + 1;
      assert.deepEqual(read(resolveConfig(nested(path, good)), path), good, 'accepts a valid value');
      const bad = spec.kind === 'string' ? 42 : 'not-valid-here';
      assert.throws(
        () => resolveConfig(nested(path, spec.kind === 'pipelines' ? [bad, 3] : bad), 'file.yml'),
        (error: ConfigError) => error.code === 'config_invalid' && error.message.startsWith(`file.yml: ${path} `),
      );
    });
  }

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

  test('a flat file, DUCTWORK_ROLE over the file, flags over both', () => {
    const flat = file('flat.yml', 'role: worker\ndatabase:\n  schema: app_jobs\npipelines:\n  - A\n  - B\n');
    const loaded = loadConfig({ file: flat, env: { DATABASE_URL: 'postgres://db/app' } });
    assert.equal(loaded.section, undefined);
    assert.deepEqual([loaded.config.role, loaded.config.pipelines, loaded.config.database.url], ['worker', ['A', 'B'], 'postgres://db/app']);
    assert.equal(loadConfig({ file: flat, env: { DUCTWORK_ROLE: 'advancer' } }).config.role, 'advancer');
    assert.equal(loadConfig({ file: flat, env: { DUCTWORK_ROLE: 'advancer' }, flags: { role: 'all', pipelines: 'C' } }).config.role, 'all');
    assert.deepEqual(loadConfig({ file: flat, flags: { pipelines: 'C, D' } }).config.pipelines, ['C', 'D']);
  });

  test('one rule for the database and the schema: flag > environment > file > default, with the source of each', () => {
    const withDb = file('db.yml', 'database:\n  url: postgres://file/db\n  schema: jobs\n');
    const pick = (env: NodeJS.ProcessEnv, flags = {}, f: string | undefined = withDb) => {
      const { config, sources } = loadConfig({ ...(f ? { file: f } : {}), env, flags });
      return [config.database.url, sources.url, config.database.schema, sources.schema];
    };
    assert.deepEqual(pick({}), ['postgres://file/db', `${withDb}: database.url`, 'jobs', `${withDb}: database.schema`]);
    assert.deepEqual(pick({ DATABASE_URL: 'postgres://env/db', DUCTWORK_SCHEMA: 'env_jobs' }), ['postgres://env/db', 'DATABASE_URL', 'env_jobs', 'DUCTWORK_SCHEMA']);
    assert.deepEqual(
      pick({ DATABASE_URL: 'postgres://env/db', DUCTWORK_SCHEMA: 'env_jobs' }, { databaseUrl: 'postgres://flag/db', schema: 'flag_jobs' }),
      ['postgres://flag/db', '--database-url', 'flag_jobs', '--schema'],
    );
    assert.deepEqual(pick({ DATABASE_URL: '', DUCTWORK_SCHEMA: '' }), ['postgres://file/db', `${withDb}: database.url`, 'jobs', `${withDb}: database.schema`], 'empty variables are unset');
    assert.deepEqual(pick({}, {}, file('none.yml', 'role: all\n')), [undefined, undefined, 'ductwork', 'default']);
  });

  test('a bad role names where it came from: the variable, the flag or the file', () => {
    const roleFile = file('role.yml', 'role: advancr\n');
    assert.throws(() => loadConfig({ env: { DUCTWORK_ROLE: 'advancr' } }), /^ConfigError: DUCTWORK_ROLE: role must be one of all, advancer, worker \(got "advancr"\)/);
    assert.throws(() => loadConfig({ env: {}, flags: { role: 'boss' } }), (e: Error) => e.message.startsWith('--role: role must be one of'));
    assert.throws(() => loadConfig({ file: roleFile, env: {} }), (e: Error) => e.message.startsWith(`${roleFile}: role must be one of`));
    assert.throws(() => loadConfig({ file: roleFile, env: { DUCTWORK_ROLE: 'worker' } }), /role\.yml: role must be one of/, 'a bad value in the file is an error even when overridden');
  });

  test('no file at the default path means defaults; a named missing file is an error', () => {
    const loaded = loadConfig({ env: {} });
    assert.equal(loaded.file, undefined);
    assert.equal(loaded.config.role, 'all');
    assert.throws(() => loadConfig({ file: join(dir, 'missing.yml'), env: {} }), /missing\.yml: configuration file not found/);
  });
});

/** Fails with the dotted path of the offending node instead of recursing into strings. */
function walkSchema(spec: unknown, prefix = ''): [string, KeySpec][] {
  assert.ok(spec !== null && typeof spec === 'object' && !Array.isArray(spec), `${prefix || 'the schema'} is a section`);
  return Object.entries(spec as Record<string, unknown>).flatMap(([key, child]) => {
    assert.ok(child !== null && typeof child === 'object', `${prefix}${key} is a key or a section`);
    return 'kind' in child ? [[prefix + key, child as KeySpec] as [string, KeySpec]] : walkSchema(child, `${prefix}${key}.`);
  });
}

describe('the schema', () => {
  // A leaf missing `doc` would not count as a key for resolveConfig's duck typing and would be
  // treated as a section, so this walker recognises leaves by `kind` alone.
  test('every key has a doc and a default of its own kind', () => {
    const keys = walkSchema(CONFIG_SCHEMA);
    assert.equal(keys.length, 39, 'a new key must be added to the reference table below too');
    for (const [path, spec] of keys) {
      assert.equal(typeof spec.doc, 'string', `${path}: doc`);
      assert.ok(spec.doc.trim().length >= 10, `${path}: doc says something`);
      switch (spec.kind) {
        case 'int':
          assert.ok(Number.isInteger(spec.default) && Number.isInteger(spec.min), `${path}: integer default and min`);
          assert.ok(spec.default >= spec.min, `${path}: default ${spec.default} >= min ${spec.min}`);
          assert.ok(['global', 'pipeline', 'step'].includes(spec.scope), `${path}: scope`);
          break;
        case 'number':
          assert.ok(Number.isFinite(spec.default) && Number.isFinite(spec.min), `${path}: finite default and min`);
          assert.ok(spec.default >= spec.min, `${path}: default ${spec.default} >= min ${spec.min}`);
          assert.ok(['global', 'pipeline', 'step'].includes(spec.scope), `${path}: scope`);
          break;
        case 'duration':
          assert.ok(Number.isFinite(spec.default) && spec.default >= 0, `${path}: a duration in seconds`);
          assert.ok(['global', 'pipeline', 'step'].includes(spec.scope), `${path}: scope`);
          break;
        case 'enum':
          assert.ok(spec.values.length >= 2, `${path}: a choice`);
          assert.equal(new Set(spec.values).size, spec.values.length, `${path}: distinct values`);
          assert.ok(spec.values.includes(spec.default), `${path}: default ${spec.default} is one of the values`);
          break;
        case 'string':
          assert.ok(spec.default === undefined || (typeof spec.default === 'string' && spec.default.length > 0), `${path}: default`);
          break;
        case 'pipelines':
          // Its default ("*") lives in resolveKey; a `default` here would be ignored.
          assert.ok(!('default' in spec), `${path}: no unused default`);
          break;
        default:
          assert.fail(`${path}: unknown kind ${(spec as { kind: string }).kind}`);
      }
    }
  });

  // Semantics §5 and §3.4. Our deliberate differences: forking defaults to threaded, times are
  // seconds, retry_backoff is new; the rest are keys the original has no equivalent for.
  const expected: Record<string, unknown> = {
    app: undefined,
    pipelines: '*', // reference: [] (nothing runs); its install template writes "*"
    role: 'all',
    forking: 'none', // reference: default (fork)
    'database.url': undefined,
    'database.schema': 'ductwork',
    'database.pool_size': 10,
    'database.call_timeout': 60,
    'job_worker.count': 5,
    'job_worker.threads': 0,
    'job_worker.max_retry': 3,
    'job_worker.max_crash': 10,
    'job_worker.polling_timeout': 1,
    'job_worker.shutdown_timeout': 20,
    'job_worker.timeout': 0, // no step timeout unless a step class or the config sets one
    'job_worker.timeout_grace': 10,
    'job_worker.crash_backoff': 10, // §3.4: new_crash_count × 10 s
    'job_worker.retry_backoff.initial': 10, // §3.4: the original's fixed 10 s
    'job_worker.retry_backoff.multiplier': 2,
    'job_worker.retry_backoff.max': 3600,
    'job_worker.retry_backoff.jitter': 0.25,
    'pipeline_advancer.count': 3,
    'pipeline_advancer.batch_size': 50,
    'pipeline_advancer.max_retry': 10, // not the install template's 3
    'pipeline_advancer.max_crash': 5,
    'pipeline_advancer.polling_timeout': 1,
    'pipeline_advancer.shutdown_timeout': 20,
    'pipeline_advancer.steps.max_depth': 100_000, // reference: unlimited
    'retention.completed': 604_800, // 7 days; the original keeps everything
    'retention.halted': 2_592_000, // 30 days
    'retention.interval': 60,
    'retention.batch_size': 500,
    'supervisor.polling_timeout': 1,
    'supervisor.reaper_timeout': 300,
    'supervisor.shutdown_timeout': 30,
    'dashboard.username': undefined,
    'dashboard.password': undefined,
    'logger.level': 'info',
    'logger.format': 'auto',
  };
  test('defaults match the reference table', () => {
    const defaults = resolveConfig(undefined);
    assert.deepEqual(walkSchema(CONFIG_SCHEMA).map(([path]) => path).sort(), Object.keys(expected).sort());
    for (const [path, value] of Object.entries(expected)) assert.deepEqual(read(defaults, path), value, path);
  });

  test('null and undefined input mean all defaults', () => {
    assert.deepEqual(resolveConfig(null), resolveConfig({}));
    assert.deepEqual(resolveConfig(undefined), resolveConfig({}));
  });

  test('a null section or key is empty, as YAML writes a section whose children are commented out', () => {
    const config = resolveConfig({ job_worker: null, pipeline_advancer: { steps: null }, role: null }, 'f.yml');
    assert.deepEqual(config.job_worker, resolveConfig({}).job_worker);
    assert.equal(config.pipeline_advancer.steps.max_depth, 100_000);
    assert.equal(config.role, 'all');
  });
});

/** Runs `fn`, expecting a config_invalid ConfigError; returns it for further checks. */
function configError(fn: () => unknown): ConfigError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError, got ${String(caught)}`);
  assert.equal(caught.code, 'config_invalid');
  assert.equal(caught.name, 'ConfigError');
  return caught;
}

describe('unknown keys', () => {
  test('a typo at the top level suggests the key, and the error names source and key', () => {
    const error = configError(() => resolveConfig({ rol: 'worker' }, 'ductwork.yml'));
    assert.equal(error.message, 'ductwork.yml: rol is not a configuration key; did you mean "role"?');
    assert.deepEqual({ ...error.details }, { source: 'ductwork.yml', key: 'rol' });
  });

  test('nested typos are reported by full dotted path, suggestion included', () => {
    assert.match(configError(() => resolveConfig({ job_worker: { cuont: 2 } })).message, /^options: job_worker\.cuont is not a configuration key; did you mean "job_worker\.count"\?$/);
    assert.match(
      configError(() => resolveConfig({ job_worker: { retry_backoff: { multiplyer: 3 } } })).message,
      /job_worker\.retry_backoff\.multiplyer is not a configuration key; did you mean "job_worker\.retry_backoff\.multiplier"\?/,
    );
  });

  test('a key valid in another section is still unknown here', () => {
    // batch_size belongs to pipeline_advancer; suggestions only come from the section at hand.
    const error = configError(() => resolveConfig({ job_worker: { batch_size: 5 } }));
    assert.equal(error.details.key, 'job_worker.batch_size');
    assert.doesNotMatch(error.message, /pipeline_advancer/);
  });

  test('the unknown key is found even when known keys beside it are valid', () => {
    configError(() => resolveConfig({ role: 'worker', database: { schema: 'x', pool: 3 } }));
  });

  test('nearest: close enough to be a typo, case-insensitive, else nothing', () => {
    const keys = ['count', 'threads', 'max_retry', 'max_crash', 'polling_timeout', 'shutdown_timeout'];
    assert.equal(nearest('max_rety', keys), 'max_retry');
    assert.equal(nearest('MAX_CRASH', keys), 'max_crash');
    assert.equal(nearest('polling_timout', keys), 'polling_timeout');
    assert.equal(nearest('shutdowntimeout', keys), 'shutdown_timeout');
    assert.equal(nearest('retries', keys), undefined);
    assert.equal(nearest('x', ['app', 'role']), undefined);
    assert.equal(nearest('anything', []), undefined);
    // Longer keys tolerate more edits: a third of the length.
    assert.equal(nearest('pollingtimeoutt', keys), 'polling_timeout');
  });
});

describe('wrong types name the dotted key and the source', () => {
  const cases: [string, unknown, RegExp][] = [
    ['database.pool_size', '10', /^cfg\.yml: database\.pool_size must be an integer >= 2 \(got "10"\)\.$/],
    ['database.pool_size', 2.5, /database\.pool_size must be an integer >= 2 \(got 2\.5\)/],
    ['database.pool_size', 1, /database\.pool_size must be an integer >= 2 \(got 1\)/],
    ['database.call_timeout', Number.POSITIVE_INFINITY, /database\.call_timeout must be a number >= 1/],
    ['job_worker.polling_timeout', Number.NaN, /job_worker\.polling_timeout must be a number >= 0/],
    ['job_worker.polling_timeout', -0.5, /job_worker\.polling_timeout must be a number >= 0 \(got -0\.5\)/],
    ['job_worker.retry_backoff.multiplier', 0.5, /job_worker\.retry_backoff\.multiplier must be a number >= 1/],
    ['pipeline_advancer.steps.max_depth', -2, /pipeline_advancer\.steps\.max_depth must be an integer >= -1 \(got -2\)/],
    ['job_worker.threads', true, /job_worker\.threads must be an integer >= 0 \(got true\)/],
    ['role', 'Worker', /^cfg\.yml: role must be one of all, advancer, worker \(got "Worker"\)\.$/],
    ['forking', true, /forking must be one of none, default \(got true\)/],
    ['logger.level', 1, /logger\.level must be one of debug, info, warn, error, silent \(got 1\)/],
    ['database.url', '', /database\.url must be a non-empty string \(got ""\)/],
    ['app', 42, /app must be a non-empty string \(got 42\)/],
    ['pipelines', 7, /pipelines must be "\*" or a non-empty list of pipeline names \(got 7\)/],
    ['pipelines', ['A', ' '], /pipelines must be "\*" or a non-empty list of pipeline names/],
    ['pipelines', { A: true }, /pipelines must be "\*" or a non-empty list of pipeline names/],
    // A global key does not take the per-pipeline form.
    ['database.pool_size', { default: 4 }, /database\.pool_size must be an integer >= 2 \(got \{"default":4\}\)/],
    ['job_worker.count', [1, 2], /job_worker\.count must be a number or a mapping by pipeline \(got a list\)/],
    ['job_worker.count', { default: 0 }, /job_worker\.count\.default must be an integer >= 1 \(got 0\)/],
    ['job_worker.max_retry', { Enrich: { Load: 'x' } }, /job_worker\.max_retry\.Enrich\.Load must be an integer >= 0 \(got "x"\)/],
    ['job_worker.max_retry', { default: { Load: 1 } }, /job_worker\.max_retry\.default must be an integer/],
  ];
  for (const [path, value, message] of cases) {
    test(`${path} = ${JSON.stringify(value) ?? String(value)}`, () => {
      const error = configError(() => resolveConfig(nested(path, value), 'cfg.yml'));
      assert.match(error.message, message);
      assert.equal(error.details.source, 'cfg.yml');
      assert.ok(String(error.details.key).startsWith(path), `details.key ${String(error.details.key)}`);
    });
  }

  test('sections must be mappings', () => {
    assert.equal(configError(() => resolveConfig({ database: 'postgres://db/app' }, 'f.yml')).message, 'f.yml: database must be a mapping.');
    assert.match(configError(() => resolveConfig({ job_worker: { retry_backoff: [10, 2] } })).message, /^options: job_worker\.retry_backoff must be a mapping\.$/);
  });

  test('the whole input must be a mapping', () => {
    assert.equal(configError(() => resolveConfig('role: all', 'f.yml')).message, 'f.yml: must be a mapping of configuration keys.');
    configError(() => resolveConfig([{ role: 'all' }]));
  });
});

describe('accepted values', () => {
  test('pipelines: "*", a list (trimmed) or a comma string', () => {
    assert.equal(resolveConfig({ pipelines: '*' }).pipelines, '*');
    assert.deepEqual(resolveConfig({ pipelines: [' Orders', 'Billing '] }).pipelines, ['Orders', 'Billing']);
    assert.deepEqual(resolveConfig({ pipelines: 'Orders, Billing,,' }).pipelines, ['Orders', 'Billing']);
    assert.deepEqual(resolveConfig({ pipelines: 'Orders' }).pipelines, ['Orders']);
  });

  test('numbers may be fractional where the key is a number, and at the minimum', () => {
    const config = resolveConfig({ job_worker: { polling_timeout: 0.25, retry_backoff: { jitter: 0 } }, pipeline_advancer: { steps: { max_depth: -1 } } });
    assert.equal(config.job_worker.polling_timeout, 0.25);
    assert.equal(config.job_worker.retry_backoff.jitter, 0);
    // The untouched siblings of a partly given section keep their defaults.
    assert.equal(config.job_worker.retry_backoff.initial, 10);
  });

  test('per-pipeline and per-step mappings are kept as given', () => {
    const config = resolveConfig({
      job_worker: { count: { default: 2, Orders: 7 }, max_crash: { Enrich: { default: 1, Load: 0 } } },
      retention: { completed: { Orders: '1h' } },
    });
    assert.deepEqual(config.job_worker.count, { default: 2, Orders: 7 });
    assert.deepEqual(config.job_worker.max_crash, { Enrich: { default: 1, Load: 0 } });
    assert.deepEqual(config.retention.completed, { Orders: 3600 }, 'durations become seconds');
    assert.throws(() => resolveConfig({ pipeline_advancer: { polling_timeout: { Orders: 0.5 } } }), /pipeline_advancer\.polling_timeout must be a number/, 'one advancer set serves every pipeline');
  });

  test('durations are seconds or a number with a unit', () => {
    const config = resolveConfig({ retention: { completed: '7d', halted: '36h', interval: '90s' }, job_worker: { timeout: { Orders: { Load: '500ms' } }, timeout_grace: 2 } });
    assert.deepEqual([config.retention.completed, config.retention.halted, config.retention.interval, config.job_worker.timeout_grace], [604_800, 129_600, 90, 2]);
    assert.deepEqual(config.job_worker.timeout, { Orders: { Load: 0.5 } });
    assert.throws(() => resolveConfig({ retention: { completed: '7 days' } }, 'f.yml'), /^ConfigError: f\.yml: retention\.completed must be a duration: seconds as a number, or a string like "30s", "15m", "24h", "7d" \(got "7 days"\)\.$/);
    assert.throws(() => resolveConfig({ retention: { completed: -1 } }), /retention\.completed must be a duration/);
  });

  test('a URL app becomes its href', () => {
    const url = new URL('file:///srv/app/dist/pipelines.js');
    assert.equal(resolveConfig({ app: url }).app, 'file:///srv/app/dist/pipelines.js');
  });

  test('the input is not modified', () => {
    const input = { app: new URL('file:///a.js'), job_worker: { count: { Orders: 2 } } };
    resolveConfig(input);
    assert.ok(input.app instanceof URL);
    assert.deepEqual(input.job_worker, { count: { Orders: 2 } });
  });
});

describe('settingFor: step entry > pipeline entry or default > top-level default > fallback', () => {
  const value = { default: 1, Orders: 2, Enrich: { default: 4, Load: 5 }, Sparse: { Load: 6 } };
  test('each level', () => {
    assert.equal(settingFor(value, 9, 'Enrich', 'Load'), 5, 'step entry');
    assert.equal(settingFor(value, 9, 'Enrich', 'Other'), 4, "pipeline's default");
    assert.equal(settingFor(value, 9, 'Enrich'), 4, "pipeline's default without a step");
    assert.equal(settingFor(value, 9, 'Orders', 'Load'), 2, 'scalar pipeline entry covers every step');
    assert.equal(settingFor(value, 9, 'Sparse', 'Load'), 6);
    assert.equal(settingFor(value, 9, 'Sparse', 'Other'), 1, 'no pipeline default: the top-level default');
    assert.equal(settingFor(value, 9, 'Elsewhere', 'Load'), 1, 'unlisted pipeline: the top-level default');
    assert.equal(settingFor({ Orders: 2 }, 9, 'Elsewhere'), 9, 'nothing applies: the fallback');
    assert.equal(settingFor({}, 9, 'Orders', 'Load'), 9);
  });

  test('a scalar applies everywhere, zero included', () => {
    assert.equal(settingFor(0, 9, 'Orders', 'Load'), 0);
    assert.equal(settingFor({ default: 0 }, 9, 'Orders'), 0, 'a zero default is not "missing"');
    assert.equal(settingFor({ Orders: { Load: 0 } }, 9, 'Orders', 'Load'), 0);
  });

  test('a step named "default" is the pipeline default', () => {
    // Step names share the namespace with the `default` entry; documents the consequence.
    assert.equal(settingFor({ Orders: { default: 3 } }, 9, 'Orders', 'default'), 3);
  });
});

describe('per-pipeline and per-step settings are checked against the app at engine start', () => {
  const app = [
    { name: 'GreetTeam', definition: { steps: new Map([['ListPeople', 0], ['Greet', 0], ['Report', 0]]) } },
    { name: 'ImportOrders', definition: { steps: new Map([['FetchOrders', 0]]) } },
  ];
  const check = (options: object) => () => checkAppSettings(resolveConfig(options), app, 'config/ductwork.yml');

  test('known names, defaults and scalars pass', () => {
    check({ job_worker: { max_retry: { default: 3, GreetTeam: { default: 4, Greet: 8 }, ImportOrders: 2 }, count: { GreetTeam: 2 } } })();
    check({ job_worker: { max_retry: 5, max_crash: { default: 1 } }, pipeline_advancer: { steps: { max_depth: { GreetTeam: { ListPeople: 10 } } } } })();
  });

  test('a misspelt pipeline is refused with the nearest name', () => {
    assert.throws(check({ job_worker: { max_retry: { GreetTeem: { Greet: 8 } } } }), (e: Error & { code?: string }) =>
      e instanceof ConfigError && e.code === 'unknown_pipeline' &&
      e.message === 'config/ductwork.yml: job_worker.max_retry.GreetTeem: "GreetTeem" is not a pipeline of the app module (pipelines: GreetTeam, ImportOrders); did you mean "job_worker.max_retry.GreetTeam"?');
    assert.throws(check({ retention: { halted: { Nothing: 60 } } }), /retention\.halted\.Nothing: "Nothing" is not a pipeline of the app module \(pipelines: GreetTeam, ImportOrders\)\.$/);
  });

  test('a misspelt step is refused with the nearest step of that pipeline', () => {
    assert.throws(check({ job_worker: { max_crash: { GreetTeam: { Gret: 8 } } } }), (e: Error & { code?: string }) =>
      e.code === 'config_invalid' &&
      /job_worker\.max_crash\.GreetTeam\.Gret: "Gret" is not a step of GreetTeam \(steps: ListPeople, Greet, Report\); did you mean "job_worker\.max_crash\.GreetTeam\.Greet"\?/.test(e.message));
    assert.throws(check({ pipeline_advancer: { steps: { max_depth: { ImportOrders: { FetchOrder: 1 } } } } }), /did you mean "pipeline_advancer\.steps\.max_depth\.ImportOrders\.FetchOrders"\?/);
  });
});
