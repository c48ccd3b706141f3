/**
 * Compile-time proofs of the typed data flow. Each `@ts-expect-error` line is an assertion: if the
 * builder ever accepted that mismatch, `tsc` (and so `npm test`) would fail with "Unused
 * '@ts-expect-error' directive". Nothing here runs.
 */
import { Pipeline, Step, type PipelineDefinition } from '../../src/index.js';

type Equal<X, Y> = (<T>() => T extends X ? 1 : 2) extends <T>() => T extends Y ? 1 : 2 ? true : false;
type ResultOfDefinition<D> = D extends PipelineDefinition<unknown, infer O> ? O : never;
type InputOfDefinition<D> = D extends PipelineDefinition<infer I, unknown> ? I : never;
const expectTrue = <T extends true>(_proof?: T) => {};

class Query extends Step {
  async execute(_input: { days: number }): Promise<number[]> {
    return [];
  }
}
class Load extends Step {
  async execute(id: number): Promise<{ id: number; name: string }> {
    return { id, name: '' };
  }
}
class FetchA extends Step {
  execute(user: { id: number }) {
    return { a: user.id };
  }
}
class FetchB extends Step {
  execute(user: { id: number }) {
    return { b: String(user.id) };
  }
}
class Collate extends Step {
  execute([a, b]: [{ a: number }, { b: string }]) {
    return { route: a.a > 0 ? 'ok' : 'no', name: b.b };
  }
}
class Notify extends Step {
  execute(value: { route: string; name: string }) {
    return value.name;
  }
}
class Flag extends Step {
  execute(value: { route: string; name: string }) {
    return value.name.length;
  }
}
class Finalize extends Step {
  execute(value: string | number) {
    return { done: value };
  }
}
class Report extends Step {
  execute(all: { done: string | number }[]) {
    return { count: all.length };
  }
}
class TakesString extends Step {
  execute(s: string) {
    return s;
  }
}
class TakesNumbers extends Step {
  execute(ns: number[]) {
    return ns.length;
  }
}
class ReturnsObject extends Step {
  execute() {
    return { not: 'routable' };
  }
}

// The overview pipeline type-checks end to end, and its types come out right.
const enrich = Pipeline.define((p) =>
  p
    .start(Query)
    .expand({ to: Load })
    .divide({ to: [FetchA, FetchB] })
    .combine({ into: Collate })
    .divert({ to: { ok: Notify, otherwise: Flag } })
    .converge({ into: Finalize })
    .collapse({ into: Report }),
);
expectTrue<Equal<InputOfDefinition<typeof enrich>, { days: number }>>();
expectTrue<Equal<ResultOfDefinition<typeof enrich>, { count: number }>>();

// A pipeline ending on an open expand yields an array of final outputs.
const open = Pipeline.define((p) => p.start(Query).expand({ to: Load }));
expectTrue<Equal<ResultOfDefinition<typeof open>, { id: number; name: string }[]>>();

// Block lanes carry their own types into the combine, in order.
Pipeline.define((p) =>
  p
    .start(Load)
    .divide({ to: [FetchA, FetchB] }, ([a, b]) => [a, b])
    .combine({ into: Collate }),
);

// @ts-expect-error chain: Query outputs number[], TakesString needs a string
Pipeline.define((p) => p.start(Query).chain(TakesString));
// @ts-expect-error expand after a step that does not return an array
Pipeline.define((p) => p.start(Load).expand({ to: Load }));
// @ts-expect-error expand into a step that does not take the element type
Pipeline.define((p) => p.start(Query).expand({ to: TakesString }));
// @ts-expect-error collapse into a step that does not take an array of the lane output
Pipeline.define((p) => p.start(Query).expand({ to: Load }).collapse({ into: TakesNumbers }));
// @ts-expect-error combine receives [A, B] in declaration order: the reversed tuple does not fit
Pipeline.define((p) => p.start(Load).divide({ to: [FetchB, FetchA] }).combine({ into: Collate }));
// @ts-expect-error combine with no open divide
Pipeline.define((p) => p.start(Load).combine({ into: Collate }));
// @ts-expect-error collapse with no open expand
Pipeline.define((p) => p.start(Load).collapse({ into: Report }));
// @ts-expect-error converge with no open divert
Pipeline.define((p) => p.start(Load).converge({ into: Finalize }));
// @ts-expect-error divert on an output that is neither a key nor { route }
Pipeline.define((p) => p.start(ReturnsObject).divert({ to: { otherwise: Finalize } }));
// @ts-expect-error a divert target that does not take the routed value
Pipeline.define((p) => p.start(Collate).divert({ to: { ok: Notify, otherwise: TakesNumbers } }));
// @ts-expect-error divert requires an otherwise route
Pipeline.define((p) => p.start(Collate).divert({ to: { ok: Notify } }));

class Enrich extends Pipeline {
  static override definition = enrich;
}
export async function neverCalled(): Promise<void> {
  await Enrich.trigger({ days: 7 });
  // @ts-expect-error trigger takes the first step's input
  await Enrich.trigger({ days: 'seven' });
  const handle = await Enrich.trigger({ days: 1 });
  const result = await handle.result();
  expectTrue<Equal<typeof result, { count: number }>>();
}
