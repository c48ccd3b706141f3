/**
 * The pipeline `ductwork demo` runs: a catalog refresh that shows every transition. Each item
 * is expanded into its own branch, divided into two lookups that are combined, routed by
 * stock, converged, and finally collapsed into one summary.
 */
import { Pipeline } from '../client/pipeline.js';
import { Step } from '../definition/step.js';

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class ListItems extends Step {
  execute({ items }: { items: number }): number[] {
    return Array.from({ length: items }, (_, i) => i + 1);
  }
}
export class LoadItem extends Step {
  async execute(id: number) {
    await pause(id % 7);
    return { id, sku: `SKU-${String(id).padStart(4, '0')}` };
  }
}
export class FetchPrice extends Step {
  async execute(item: { id: number; sku: string }) {
    await pause(item.id % 5);
    return { sku: item.sku, price: Math.round(((item.id * 37) % 1000) + 99) / 100 };
  }
}
export class FetchStock extends Step {
  async execute(item: { id: number; sku: string }) {
    await pause(item.id % 3);
    return { sku: item.sku, stock: (item.id * 13) % 9 };
  }
}
export class MergeListing extends Step {
  execute([price, stock]: [{ sku: string; price: number }, { sku: string; stock: number }]) {
    return { sku: price.sku, price: price.price, stock: stock.stock, route: stock.stock > 0 ? 'available' : 'backorder' };
  }
}
export class Publish extends Step {
  execute(listing: { sku: string; price: number }) {
    return { sku: listing.sku, status: 'published' as string };
  }
}
export class Backorder extends Step {
  execute(listing: { sku: string }) {
    return { sku: listing.sku, status: 'backordered' as string };
  }
}
export class RecordOutcome extends Step {
  execute(outcome: { sku: string; status: string }) {
    return outcome;
  }
}
export class Summarize extends Step {
  execute(outcomes: { sku: string; status: string }[]) {
    const published = outcomes.filter((o) => o.status === 'published').length;
    return { items: outcomes.length, published, backordered: outcomes.length - published, first: outcomes[0]?.sku ?? null };
  }
}

export class CatalogRefresh extends Pipeline {
  static override definition = Pipeline.define((p) =>
    p
      .start(ListItems)
      .expand({ to: LoadItem })
      .divide({ to: [FetchPrice, FetchStock] })
      .combine({ into: MergeListing })
      .divert({ to: { available: Publish, otherwise: Backorder } })
      .converge({ into: RecordOutcome })
      .collapse({ into: Summarize }),
  );
}
