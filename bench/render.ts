/**
 * Renders bench/results/<name>.md again from <name>.json and <name>.meta.json (after a change to
 * the report, or to recompute ratios): node dist/bench/render.js [latest|latest-quick|partial]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { Row } from './lib/cells.js';
import { addRatios, render, type Meta } from './lib/report.js';

const name = process.argv[2] ?? 'latest';
const dir = new URL('../../bench/results/', import.meta.url).pathname;
const rows = JSON.parse(readFileSync(`${dir}${name}.json`, 'utf8')) as Row[];
const meta = JSON.parse(readFileSync(`${dir}${name}.meta.json`, 'utf8')) as Meta;
addRatios(rows);
writeFileSync(`${dir}${name}.json`, `${JSON.stringify(rows, null, 2)}\n`);
writeFileSync(`${dir}${name}.md`, render(rows, meta).markdown);
console.log(`rendered bench/results/${name}.md`);
