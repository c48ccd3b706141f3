/**
 * An ETL batch: extract a list of files, transform each in its own branch (a crash re-runs only
 * that file), and load the totals once every file is done.
 */
import { Pipeline, Step } from '../src/index.js';

export class ListFiles extends Step {
  execute({ day }: { day: string }): { file: string; rows: number }[] {
    return ['orders', 'refunds', 'payouts'].map((name, i) => ({ file: `${day}/${name}.csv`, rows: (i + 1) * 100 }));
  }
}
export class TransformFile extends Step {
  async execute(entry: { file: string; rows: number }) {
    return { file: entry.file, rows: entry.rows, amountCents: entry.rows * 1250 };
  }
}
export class LoadTotals extends Step {
  execute(parts: { file: string; rows: number; amountCents: number }[]) {
    return { files: parts.length, rows: parts.reduce((n, p) => n + p.rows, 0), amountCents: parts.reduce((n, p) => n + p.amountCents, 0) };
  }
}

export class NightlyEtl extends Pipeline {
  static override definition = Pipeline.define((p) => p.start(ListFiles).expand({ to: TransformFile }).collapse({ into: LoadTotals }));
}
