import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { CONFIG_SCHEMA, type KeySpec, type SectionSpec } from '../../src/config/schema.js';

// The README is part of the product: these keep it in step with the code.
const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');

function leaves(spec: SectionSpec, prefix = ''): string[] {
  return Object.entries(spec).flatMap(([key, child]) =>
    typeof (child as KeySpec).kind === 'string' ? [prefix + key] : leaves(child as SectionSpec, `${prefix}${key}.`),
  );
}

test('the README documents every configuration key with its default', () => {
  for (const key of leaves(CONFIG_SCHEMA)) {
    assert.match(readme, new RegExp(`^\\| \`${key.replaceAll('.', '\\.')}\` \\| [^|]+ \\| [^|]+ \\|$`, 'm'), `README row for ${key}`);
  }
});

test('the README documents every command and its two set-up commands', () => {
  for (const command of ['start', 'migrate', 'trigger', 'status', 'revive', 'health', 'demo', 'init', 'dashboard', 'cancel', 'signal', 'schedules', 'check', 'prune']) {
    assert.match(readme, new RegExp(`\\| \`ductwork ${command}`), `README row for ductwork ${command}`);
  }
  assert.match(readme, /^npm ci && npm run demo +# install, then watch an example pipeline run/m);
  assert.match(readme, /^npm test +# compile and run every test/m);
});

test('every README block marked as taken from an example is in that example, verbatim', () => {
  const blocks = [...readme.matchAll(/<!-- from (examples\/[\w.-]+\.ts) -->\n```ts\n([\s\S]*?)```/g)];
  assert.ok(blocks.length >= 2);
  for (const [, file, block] of blocks) {
    const source = readFileSync(new URL(`../../../${file}`, import.meta.url), 'utf8');
    assert.ok(source.includes(block!.trim()), `the README block from ${file} is in it as written:\n${block}`);
  }
});
