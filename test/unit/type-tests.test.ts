/**
 * Proves, in `npm test` and not only in the build, that a pipeline whose steps do not fit does
 * not compile for a user of the package: a scratch project imports the built declarations
 * (dist/src/index.d.ts) under the package name and is checked with the real compiler.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';

// This file runs as dist/test/unit/type-tests.test.js: the repository root is three levels up.
const root = fileURLToPath(new URL('../../../', import.meta.url));
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const declarations = join(root, 'dist', 'src', 'index.d.ts');

const scratch = mkdtempSync(join(tmpdir(), 'ductwork-type-tests-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** Writes a one-file project importing `ductwork` and type-checks it; resolves with tsc's exit code and output. */
function typeCheck(name: string, source: string): Promise<{ code: number; output: string }> {
  const dir = join(scratch, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        noEmit: true,
        skipLibCheck: true,
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        types: ['node'],
        typeRoots: [join(root, 'node_modules', '@types')],
        paths: { ductwork: [declarations] },
      },
      files: ['pipeline.ts'],
    }),
  );
  writeFileSync(join(dir, 'pipeline.ts'), source);
  return new Promise((resolve) => {
    execFile(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json')], { cwd: dir, timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, output: `${stdout}${stderr}` });
    });
  });
}

const project = (collate: string) => `import { Pipeline, Step } from 'ductwork';

class LoadUser extends Step {
  async execute(id: number): Promise<{ id: number; name: string }> {
    return { id, name: 'user-' + id };
  }
}
class FetchProfile extends Step {
  execute(user: { id: number }): { bio: string } {
    return { bio: String(user.id) };
  }
}
class FetchScore extends Step {
  execute(user: { id: number }): { score: number } {
    return { score: user.id };
  }
}
class CollateInOrder extends Step {
  execute([profile, score]: [{ bio: string }, { score: number }]) {
    return profile.bio + score.score;
  }
}
class CollateReversed extends Step {
  execute([score, profile]: [{ score: number }, { bio: string }]) {
    return profile.bio + score.score;
  }
}

export class Profiles extends Pipeline {
  static override definition = Pipeline.define((p) => p.start(LoadUser).divide({ to: [FetchProfile, FetchScore] }).combine({ into: ${collate} }));
}
`;

test('a pipeline whose combine step expects the lanes in the wrong order does not compile', { timeout: 60_000 }, async () => {
  assert.ok(existsSync(declarations), `build first: ${declarations} is missing`);
  // The twin with the right step is the control: it shows the setup compiles, so the failure is the mismatch.
  const [mismatched, matched] = await Promise.all([typeCheck('mismatched', project('CollateReversed')), typeCheck('matched', project('CollateInOrder'))]);

  assert.equal(matched.code, 0, `the matching pipeline should compile:\n${matched.output}`);
  assert.notEqual(mismatched.code, 0, 'tsc accepted a pipeline whose combine input does not fit its divide');
  assert.match(mismatched.output, /pipeline\.ts\(30,\d+\): error TS\d+: Type 'typeof CollateReversed' is not assignable/);
  assert.match(mismatched.output, /\[\{ bio: string; \}, \{ score: number; \}\]/, 'the error should show the lane tuple the combine receives');
  assert.equal(mismatched.output.match(/error TS/g)?.length, 1, `only the combine should be rejected:\n${mismatched.output}`);
});
