import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

const CONFIG = `# Ductwork configuration. Every key, its default and unit: the Configuration section of
# node_modules/ductwork/README.md (npx ductwork start --help lists the flags).
# The section is chosen by DUCTWORK_ENV, then NODE_ENV, then "development".
default: &default
  app: ./dist/pipelines.js        # the compiled module that exports your pipelines
  pipelines: "*"
  database:
    schema: ductwork              # url comes from DATABASE_URL
  job_worker:
    count: 5
    max_retry: 3

development:
  <<: *default

test:
  <<: *default

production:
  <<: *default
  logger:
    format: json
`;

const PIPELINES = `import { Pipeline, Step } from 'ductwork';

/** Finds the people to greet. */
export class ListPeople extends Step {
  async execute({ team }: { team: string }): Promise<string[]> {
    return team === 'empty' ? [] : ['Ada', 'Grace', 'Katherine'];
  }
}

/** Greets one person; runs on its own branch, once per name. */
export class Greet extends Step {
  async execute(name: string): Promise<string> {
    // this.idempotencyKey is stable across retries: pass it to anything with side effects.
    return \`Hello, \${name}!\`;
  }
}

/** Receives every greeting, in the order of the names. */
export class Report extends Step {
  execute(greetings: string[]) {
    return { count: greetings.length, greetings };
  }
}

export class GreetTeam extends Pipeline {
  static override definition = Pipeline.define((p) => p.start(ListPeople).expand({ to: Greet }).collapse({ into: Report }));
}
`;

const TSCONFIG = `{
  "compilerOptions": {
    "target": "ES2022",
    "module": "NodeNext",
    "moduleResolution": "NodeNext",
    "strict": true,
    "noImplicitOverride": true,
    "skipLibCheck": true,
    "types": ["node"],
    "outDir": "dist",
    "rootDir": "src"
  },
  "include": ["src/**/*.ts"]
}
`;

/** What `ductwork init` prints after scaffolding: the commands that take the project to a running engine. */
export const NEXT_STEPS = `
Next (DATABASE_URL names your PostgreSQL; without one, add --embedded to migrate, start, trigger and status):
  npm i -D typescript @types/node      # if the project has no TypeScript yet
  npx tsc                              # compiles src/pipelines.ts to dist/pipelines.js
  npx ductwork migrate                 # creates the schema
  npx ductwork start                   # runs the engine; Ctrl+C drains and stops it
  npx ductwork trigger GreetTeam '{"team":"core"}'   # in another terminal: prints the pipeline id
  npx ductwork dev                     # or: engine + dashboard on an embedded PostgreSQL, no server needed
`;

/**
 * `ductwork init`: scaffolds a configuration, an example pipeline and (if missing) a tsconfig,
 * and makes the package an ES module (the README's code uses top-level await and `import`): a
 * missing package.json is created with `"type": "module"`; an existing one gets it when this run
 * scaffolded the pipeline (a new project: `npm init -y` writes "commonjs"). Never overwrites a file.
 */
export function initCommand(directory = process.cwd()): { created: string[]; kept: string[]; updated: string[] } {
  const files: [string, string][] = [
    ['config/ductwork.yml', CONFIG],
    ['src/pipelines.ts', PIPELINES],
    ['tsconfig.json', TSCONFIG],
  ];
  const created: string[] = [];
  const kept: string[] = [];
  const updated: string[] = [];
  for (const [relative, content] of files) {
    const path = join(directory, relative);
    if (existsSync(path)) {
      kept.push(relative);
      continue;
    }
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, content);
    created.push(relative);
  }
  const manifest = join(directory, 'package.json');
  if (!existsSync(manifest)) {
    const name = basename(directory).toLowerCase().replace(/[^a-z0-9-._~]/g, '-') || 'app';
    writeFileSync(manifest, `${JSON.stringify({ name, version: '0.1.0', private: true, type: 'module', scripts: { build: 'tsc', start: 'ductwork start' } }, null, 2)}\n`);
    created.push('package.json');
  } else {
    const text = readFileSync(manifest, 'utf8');
    const json = JSON.parse(text) as { type?: string };
    if (json.type !== 'module' && created.includes('src/pipelines.ts')) {
      json.type = 'module';
      writeFileSync(manifest, `${JSON.stringify(json, null, 2)}\n`);
      updated.push('package.json ("type": "module": the scaffold and the README use ES modules)');
    } else if (json.type !== 'module') {
      kept.push('package.json (not an ES module: set "type": "module", or use .mts files, for top-level await)');
    }
  }
  return { created, kept, updated };
}
