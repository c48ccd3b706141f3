import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const CONFIG = `# Ductwork configuration: https://github.com/ductwork — every key, default and unit is in the README.
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
    "outDir": "dist",
    "rootDir": "src"
  },
  "include": ["src/**/*.ts"]
}
`;

/** `ductwork init`: scaffolds a configuration, an example pipeline and (if missing) a tsconfig; never overwrites. */
export function initCommand(directory = process.cwd()): { created: string[]; kept: string[] } {
  const files: [string, string][] = [
    ['config/ductwork.yml', CONFIG],
    ['src/pipelines.ts', PIPELINES],
    ['tsconfig.json', TSCONFIG],
  ];
  const created: string[] = [];
  const kept: string[] = [];
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
  return { created, kept };
}
