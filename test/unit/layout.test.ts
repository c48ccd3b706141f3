import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

// DESIGN.md §5: the folder layout is the architecture, and imports follow it. Every import of
// every source file is read here and held to the table below, so a rule broken is a red build.
const root = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');

/** The area a file belongs to: a folder of src/, a top-level module of src/, workers/ or bench/. */
function areaOf(file: string): string {
  const path = relative(root, file).replaceAll('\\', '/');
  const [top, second] = path.split('/');
  // The .mjs peers of the bench load the bench's own compiled modules.
  if (top === 'dist' && second === 'bench') return 'bench';
  if (top === 'src') return second!.endsWith('.ts') || second!.endsWith('.js') ? `src/${second!.replace(/\.(ts|js)$/, '')}` : `src/${second}`;
  return top!;
}

/** Which areas each area may import (besides itself and node: built-ins). */
const MAY_IMPORT: Record<string, string[]> = {
  'src/errors': [],
  'src/duration': ['src/errors'],
  'src/log': [],
  'src/definition': ['src/errors', 'src/duration'],
  'src/config': ['src/errors', 'src/duration'],
  'src/db': ['src/errors', 'src/duration', 'src/config', 'src/definition'],
  // Telemetry through @opentelemetry/api and prom-client; what it reads from the database is handed to it.
  'src/observe': ['src/errors'],
  'src/client': ['src/db', 'src/definition', 'src/errors', 'src/duration', 'src/observe'],
  'src/runtime': ['src/db', 'src/definition', 'src/errors', 'src/duration', 'src/log', 'src/config', 'src/client', 'src/observe', 'workers'],
  'src/dashboard': ['src/db', 'src/client', 'src/definition', 'src/errors', 'src/log', 'src/config', 'src/observe'],
  'src/demo': ['src/definition', 'src/client'],
  'src/testing': ['src/client', 'src/config', 'src/db', 'src/definition', 'src/errors', 'src/log', 'src/runtime', 'workers'],
  'src/cli': ['src/client', 'src/config', 'src/db', 'src/definition', 'src/errors', 'src/duration', 'src/log', 'src/runtime', 'src/dashboard', 'src/demo', 'src/observe'],
  'src/index': ['src/client', 'src/config', 'src/db', 'src/definition', 'src/errors', 'src/duration', 'src/log', 'src/runtime', 'src/dashboard', 'src/observe'],
  workers: ['src/definition', 'src/errors', 'src/duration', 'src/observe'],
  bench: ['src/index'],
};

/** Packages with a single home (DESIGN §5): nobody else imports them. */
const ONLY_IN: Record<string, (file: string) => boolean> = {
  yaml: (f) => f === 'src/config/load.ts',
  umzug: (f) => f === 'src/db/migrate.ts',
  cac: (f) => f === 'src/cli/main.ts',
  piscina: (f) => f === 'src/runtime/thread-pool.ts',
  postgres: (f) => f.startsWith('src/db/'),
  'prom-client': (f) => f === 'src/observe/metrics.ts',
};

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' || entry.name === 'results' ? [] : sources(path);
    return /\.(ts|mts|mjs)$/.test(entry.name) && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

function importsOf(text: string): string[] {
  const found: string[] = [];
  for (const pattern of [/\bfrom\s+'([^']+)'/g, /\bimport\(\s*'([^']+)'\s*\)/g, /\brequire\(\s*'([^']+)'\s*\)/g, /^import\s+'([^']+)'/gm]) {
    for (const match of text.matchAll(pattern)) found.push(match[1]!);
  }
  return found;
}

test('every import follows the layout rules of DESIGN.md §5', () => {
  const broken: string[] = [];
  const files = [...sources(join(root, 'src')), ...sources(join(root, 'workers')), ...sources(join(root, 'bench'))];
  assert.ok(files.length > 100, `read ${files.length} files`);
  for (const file of files) {
    const from = areaOf(file);
    const allowed = MAY_IMPORT[from];
    const name = relative(root, file).replaceAll('\\', '/');
    assert.ok(allowed, `${name}: area ${from} is not in the table`);
    for (const spec of importsOf(readFileSync(file, 'utf8'))) {
      if (spec.startsWith('.')) {
        const to = areaOf(resolve(dirname(file), spec));
        if (to !== from && !allowed.includes(to)) broken.push(`${name} imports ${spec} (${from} may not import ${to})`);
      } else {
        const pkg = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
        const home = ONLY_IN[pkg];
        if (home && !home(name) && !name.startsWith('bench/')) broken.push(`${name} imports ${pkg}, which only its home may import`);
      }
    }
  }
  assert.deepEqual(broken, []);
});
