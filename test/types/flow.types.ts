/**
 * Compile-time proofs of the builder's typed data flow. Every `@ts-expect-error` is an assertion:
 * if the builder ever accepted that line, tsc would fail with "Unused '@ts-expect-error'
 * directive". Each rejected pipeline sits on one line and uses steps that fit everywhere except
 * at the one place under test, so the expected error cannot come from somewhere else.
 *
 * Everything lives inside functions that are never called: this module is compiled, not run.
 */
import { Pipeline, Step, type HaltReport, type InputOf, type OutputOf, type PipelineDefinition } from '../../src/index.js';

type Equal<X, Y> = (<T>() => T extends X ? 1 : 2) extends <T>() => T extends Y ? 1 : 2 ? true : false;
type Expect<T extends true> = T;
// Both parameters of PipelineDefinition are covariant, so `unknown` matches any definition.
type ResultOfDef<D> = D extends PipelineDefinition<unknown, infer O> ? O : never;
type InputOfDef<D> = D extends PipelineDefinition<infer I, unknown> ? I : never;

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
  execute(user: { id: number }): { a: number } {
    return { a: user.id };
  }
}
class FetchB extends Step {
  execute(user: { id: number }): { b: string } {
    return { b: String(user.id) };
  }
}
class Collate extends Step {
  execute([a, b]: [{ a: number }, { b: string }]): { route: string; name: string } {
    return { route: a.a > 0 ? 'ok' : 'no', name: b.b };
  }
}
class Notify extends Step {
  execute(value: { route: string; name: string }): string {
    return value.name;
  }
}
class Flag extends Step {
  execute(value: { route: string; name: string }): number {
    return value.name.length;
  }
}
class Finalize extends Step {
  execute(value: string | number): { done: string | number } {
    return { done: value };
  }
}
class Report extends Step {
  execute(all: { done: string | number }[]): { count: number } {
    return { count: all.length };
  }
}
class TakesString extends Step {
  execute(s: string): string {
    return s;
  }
}
class TakesNumber extends Step {
  execute(n: number): number {
    return n;
  }
}
class Nums extends Step {
  execute(ns: number[]): number[] {
    return ns;
  }
}
class TakesNumbers extends Step {
  execute(ns: number[]): number {
    return ns.length;
  }
}
/** Fits any input: fan-ins into it can only fail on the stack check. */
class TakesAnything extends Step {
  execute(_value: unknown): 'anything' {
    return 'anything';
  }
}
class NoInput extends Step {
  execute(): boolean {
    return true;
  }
}
class ReturnsObject extends Step {
  execute(): { not: string } {
    return { not: 'routable' };
  }
}
class ReturnsKey extends Step {
  execute(_n: number): 'red' | 'blue' | null {
    return null;
  }
}
class RecordHalt extends Step {
  execute(report: HaltReport): null {
    void report.reasons;
    return null;
  }
}

export function rejectedPipelines(): void {
  // @ts-expect-error chain: Query outputs number[], TakesString needs a string
  Pipeline.define((p) => p.start(Query).chain(TakesString));
  // @ts-expect-error chain's `{ to }` form is checked the same way
  Pipeline.define((p) => p.start(Query).chain({ to: TakesString }));
  // @ts-expect-error chain after a combine: Collate outputs an object, TakesNumber needs a number
  Pipeline.define((p) => p.start(Load).divide({ to: [FetchA, FetchB] }).combine({ into: Collate }).chain(TakesNumber));
  // @ts-expect-error chain after a divide must accept every lane's output ({ a } and { b })
  Pipeline.define((p) => p.start(Load).divide({ to: [FetchA, FetchB] }).chain(FetchA));

  // @ts-expect-error expand after a step that does not return an array
  Pipeline.define((p) => p.start(Load).expand({ to: TakesAnything }));
  // @ts-expect-error expand into a step that does not accept the element type (number)
  Pipeline.define((p) => p.start(Query).expand({ to: TakesString }));
  // @ts-expect-error collapse into a step that does not accept an array of the lane output ({ id, name }[])
  Pipeline.define((p) => p.start(Query).expand({ to: Load }).collapse({ into: TakesNumbers }));
  // @ts-expect-error collapse takes the array of lane outputs, not one output
  Pipeline.define((p) => p.start(Query).expand({ to: TakesNumber }).collapse({ into: TakesNumber }));

  // @ts-expect-error combine receives [A-out, B-out] in declaration order: the reversed divide does not fit Collate
  Pipeline.define((p) => p.start(Load).divide({ to: [FetchB, FetchA] }).combine({ into: Collate }));
  // @ts-expect-error combine of three lanes into a step that takes a pair
  Pipeline.define((p) => p.start(Load).divide({ to: [FetchA, FetchB, FetchB] }).combine({ into: Collate }));
  // @ts-expect-error a divide target that does not accept the previous output
  Pipeline.define((p) => p.start(Query).divide({ to: [TakesNumbers, TakesString] }));

  // @ts-expect-error combine with nothing open
  Pipeline.define((p) => p.start(Load).combine({ into: TakesAnything }));
  // @ts-expect-error collapse with nothing open
  Pipeline.define((p) => p.start(Load).collapse({ into: TakesAnything }));
  // @ts-expect-error converge with nothing open
  Pipeline.define((p) => p.start(Load).converge({ into: TakesAnything }));
  // @ts-expect-error combine when the innermost open fan-out is an expand
  Pipeline.define((p) => p.start(Query).divide({ to: [Nums] }).expand({ to: TakesAnything }).combine({ into: TakesAnything }));
  // @ts-expect-error collapse when the innermost open fan-out is a divide
  Pipeline.define((p) => p.start(Query).expand({ to: TakesAnything }).divide({ to: [TakesAnything] }).collapse({ into: TakesAnything }));
  // @ts-expect-error converge when the innermost open fan-out is an expand
  Pipeline.define((p) => p.start(Query).expand({ to: TakesAnything }).converge({ into: TakesAnything }));
  // @ts-expect-error combine when the innermost open fan-out is a divert
  Pipeline.define((p) => p.start(ReturnsKey).divert({ to: { otherwise: TakesAnything } }).combine({ into: TakesAnything }));
  // @ts-expect-error a second collapse after the only expand was closed
  Pipeline.define((p) => p.start(Query).expand({ to: TakesNumber }).collapse({ into: TakesNumbers }).collapse({ into: TakesAnything }));

  // @ts-expect-error divert on an object output without a string `route`
  Pipeline.define((p) => p.start(ReturnsObject).divert({ to: { otherwise: TakesAnything } }));
  // @ts-expect-error divert on an array output
  Pipeline.define((p) => p.start(Query).divert({ to: { otherwise: TakesAnything } }));
  // @ts-expect-error a divert target that does not accept the routed value
  Pipeline.define((p) => p.start(Collate).divert({ to: { ok: Notify, otherwise: TakesNumbers } }));
  // @ts-expect-error divert needs an `otherwise` route
  Pipeline.define((p) => p.start(Collate).divert({ to: { ok: Notify } }));
  // @ts-expect-error converge into a step that does not accept every route's output (string | number)
  Pipeline.define((p) => p.start(Collate).divert({ to: { ok: Notify, otherwise: Flag } }).converge({ into: TakesString }));

  // @ts-expect-error a divide lane must close what it opens inside the block
  Pipeline.define((p) => p.start(Query).divide({ to: [Nums, TakesAnything] }, ([a, b]) => [a.expand({ to: TakesNumber }), b]));
  // @ts-expect-error the onHalt step receives a HaltReport
  Pipeline.define((p) => p.start(Load).onHalt(TakesNumber));
}

export async function rejectedTriggers(): Promise<void> {
  class Enrich extends Pipeline {
    static override definition = Pipeline.define((p) => p.start(Query).expand({ to: Load }).collapse({ into: TakesAnything }));
  }
  // @ts-expect-error trigger takes the first step's input: days is a number
  await Enrich.trigger({ days: 'seven' });
  // @ts-expect-error trigger input missing a property of the first step's input
  await Enrich.trigger({});
  // @ts-expect-error trigger input of the wrong kind altogether
  await Enrich.trigger(7);
  // @ts-expect-error no input at all, for a pipeline whose first step needs one
  await Enrich.trigger(undefined);
  // @ts-expect-error null is not an object input either
  await Enrich.trigger(null);
}

export async function acceptedPipelines(): Promise<void> {
  // The overview pipeline type-checks end to end; its input and result come out right.
  const enrich = Pipeline.define((p) =>
    p
      .start(Query)
      .expand({ to: Load })
      .divide({ to: [FetchA, FetchB] })
      .combine({ into: Collate })
      .divert({ to: { ok: Notify, otherwise: Flag } })
      .converge({ into: Finalize })
      .collapse({ into: Report })
      .onHalt(RecordHalt),
  );
  const enrichIn: Expect<Equal<InputOfDef<typeof enrich>, { days: number }>> = true;
  const enrichOut: Expect<Equal<ResultOfDef<typeof enrich>, { count: number }>> = true;

  class Enrich extends Pipeline {
    static override definition = enrich;
  }
  const handle = await Enrich.trigger({ days: 7 });
  const result = await handle.result();
  const triggered: Expect<Equal<typeof result, { count: number }>> = true;
  const count: number = result.count;

  // OutputOf unwraps promises; InputOf is what execute takes.
  const loadOut: Expect<Equal<OutputOf<typeof Load>, { id: number; name: string }>> = true;
  const queryIn: Expect<Equal<InputOf<typeof Query>, { days: number }>> = true;
  const queryOut: Expect<Equal<OutputOf<typeof Query>, number[]>> = true;

  // A single-branch pipeline's result is its last step's output; `{ to }` chains the same.
  const chained = Pipeline.define((p) => p.start(Query).chain({ to: TakesNumbers }).chain(TakesNumber));
  const chainedOut: Expect<Equal<ResultOfDef<typeof chained>, number>> = true;

  // A first step without a parameter accepts any trigger input.
  const noInput = Pipeline.define((p) => p.start(NoInput));
  const noInputIn: Expect<Equal<InputOfDef<typeof noInput>, unknown>> = true;

  // Ending on an open expand or divide yields every terminal output; an open divert only one.
  const openExpand = Pipeline.define((p) => p.start(Query).expand({ to: Load }));
  const openExpandOut: Expect<Equal<ResultOfDef<typeof openExpand>, { id: number; name: string }[]>> = true;
  const openDivide = Pipeline.define((p) => p.start(Load).divide({ to: [FetchA, FetchB] }));
  const openDivideOut: Expect<Equal<ResultOfDef<typeof openDivide>, ({ a: number } | { b: string })[]>> = true;
  const openDivert = Pipeline.define((p) => p.start(Collate).divert({ to: { ok: Notify, otherwise: Flag } }));
  const openDivertOut: Expect<Equal<ResultOfDef<typeof openDivert>, string | number>> = true;
  const divertInExpand = Pipeline.define((p) => p.start(Query).expand({ to: ReturnsKey }).divert({ to: { red: TakesAnything, otherwise: TakesAnything } }));
  const divertInExpandOut: Expect<Equal<ResultOfDef<typeof divertInExpand>, 'anything'[]>> = true;

  // Nested expands: the inner collapse gets the inner lane outputs, the outer one the inner results.
  class Ranges extends Step {
    execute(ns: number[]): number[][] {
      return ns.map((n) => [n]);
    }
  }
  class Sum extends Step {
    execute(ns: number[]): number {
      return ns.length;
    }
  }
  class Sums extends Step {
    execute(sums: number[]): { total: number } {
      return { total: sums.length };
    }
  }
  const nested = Pipeline.define((p) =>
    p.start(Query).chain(Ranges).expand({ to: Nums }).expand({ to: TakesNumber }).collapse({ into: Sum }).collapse({ into: Sums }),
  );
  const nestedOut: Expect<Equal<ResultOfDef<typeof nested>, { total: number }>> = true;

  // A chain after a divide keeps the lanes: the combine still receives one output per lane.
  class PairOfStrings extends Step {
    execute(pair: [string, string]): string {
      return pair.join();
    }
  }
  class Describe extends Step {
    execute(value: { a: number } | { b: string }): string {
      return JSON.stringify(value);
    }
  }
  const chainAfterDivide = Pipeline.define((p) => p.start(Load).divide({ to: [FetchA, FetchB] }).chain(Describe).combine({ into: PairOfStrings }));
  const chainAfterDivideOut: Expect<Equal<ResultOfDef<typeof chainAfterDivide>, string>> = true;

  // Block lanes carry their continued types into the combine, in declaration order.
  class AfterA extends Step {
    execute(value: { a: number }): { a2: number } {
      return { a2: value.a };
    }
  }
  class CollateContinued extends Step {
    execute([a, b]: [{ a2: number }, { b: string }]): string {
      return `${a.a2}${b.b}`;
    }
  }
  const blockDivide = Pipeline.define((p) =>
    p
      .start(Load)
      .divide({ to: [FetchA, FetchB] }, ([a, b]) => [a.chain(AfterA), b])
      .combine({ into: CollateContinued }),
  );
  const blockDivideOut: Expect<Equal<ResultOfDef<typeof blockDivide>, string>> = true;
  // ...and an expand opened and closed inside a lane is fine.
  const closedLane = Pipeline.define((p) =>
    p.start(Query).divide({ to: [Nums, TakesNumbers] }, ([a, b]) => [a.expand({ to: TakesNumber }).collapse({ into: TakesNumbers }), b]).combine({ into: TakesNumbers }),
  );
  const closedLaneOut: Expect<Equal<ResultOfDef<typeof closedLane>, number>> = true;

  // Block divert: converge receives any route's continued output.
  const blockDivert = Pipeline.define((p) =>
    p
      .start(Collate)
      .divert({ to: { ok: Notify, otherwise: Flag } }, (lanes) => ({ ok: lanes.ok.chain(TakesString), otherwise: lanes.otherwise }))
      .converge({ into: Finalize }),
  );
  const blockDivertOut: Expect<Equal<ResultOfDef<typeof blockDivert>, { done: string | number }>> = true;

  // divert routes on literal keys, null, and { route } objects.
  const byKey = Pipeline.define((p) => p.start(ReturnsKey).divert({ to: { red: TakesAnything, blue: TakesAnything, otherwise: TakesAnything } }));
  const byRoute = Pipeline.define((p) => p.start(Collate).divert({ to: { ok: Notify, otherwise: Notify } }).converge({ into: TakesString }));
  const byRouteOut: Expect<Equal<ResultOfDef<typeof byRoute>, string>> = true;

  void [enrichIn, enrichOut, triggered, count, loadOut, queryIn, queryOut, chainedOut, noInputIn, openExpandOut, openDivideOut, openDivertOut];
  void [divertInExpandOut, nestedOut, chainAfterDivideOut, blockDivideOut, closedLaneOut, blockDivertOut, byKey, byRouteOut];
}

/** The time-and-control forms: a wait's payload type reaches the next step; delays keep the flow. */
export async function timeAndControl(): Promise<void> {
  class Submit extends Step {
    execute(_input: { order: string }): { order: string } {
      return { order: '' };
    }
  }
  class Approve extends Step {
    execute(approval: { approvedBy: string }): { ok: true; by: string } {
      return { ok: true, by: approval.approvedBy };
    }
  }
  class Escalate extends Step {
    execute(order: { order: string }): { escalated: string } {
      return { escalated: order.order };
    }
  }
  class Decide extends Step {
    execute(value: { approvedBy: string } | { escalated: string }): string {
      return 'approvedBy' in value ? value.approvedBy : value.escalated;
    }
  }
  const waits = Pipeline.define((p) => p.start(Submit).wait<{ approvedBy: string }>({ event: 'approved' }).chain({ to: Approve, after: '1h' }));
  const waitsOut: Expect<Equal<ResultOfDef<typeof waits>, { ok: true; by: string }>> = true;
  const fallback = Pipeline.define((p) =>
    p.start(Submit).wait<{ approvedBy: string }, typeof Escalate>({ event: 'approved', timeout: '2d', onTimeout: Escalate }).chain(Decide));
  const fallbackOut: Expect<Equal<ResultOfDef<typeof fallback>, string>> = true;
  void [waitsOut, fallbackOut];

  // @ts-expect-error the step after a wait receives the signal's payload, not the previous output
  Pipeline.define((p) => p.start(Submit).wait<{ approvedBy: string }>({ event: 'approved' }).chain(Escalate));
  // @ts-expect-error after a wait with onTimeout, the next step must accept the payload and the fallback's output
  Pipeline.define((p) => p.start(Submit).wait<{ approvedBy: string }, typeof Escalate>({ event: 'approved', timeout: '1d', onTimeout: Escalate }).chain(Approve));
  // @ts-expect-error the onTimeout step takes the previous step's output
  Pipeline.define((p) => p.start(Submit).wait<{ approvedBy: string }, typeof Approve>({ event: 'approved', timeout: '1d', onTimeout: Approve }).chain(Decide));
  // @ts-expect-error `after` is a duration, not a date
  Pipeline.define((p) => p.start(Submit).chain({ to: Escalate, after: new Date() }));

  class ChargeCard extends Pipeline {
    static override definition = Pipeline.define((p) => p.start(Escalate));
  }
  const withChild = Pipeline.define((p) => p.start(Submit).chain(ChargeCard).chain({ to: Decide, after: '1m' }));
  const withChildOut: Expect<Equal<ResultOfDef<typeof withChild>, string>> = true;
  void withChildOut;
  // @ts-expect-error a child pipeline's input must accept the previous output
  Pipeline.define((p) => p.start(Escalate).chain(ChargeCard));
  // @ts-expect-error the step after a child receives the child's result ({ escalated }), not an approval
  Pipeline.define((p) => p.start(Submit).chain(ChargeCard).chain(Approve));

  class Orders extends Pipeline {
    static override definition = Pipeline.define((p) => p.start(Submit).chain(Escalate));
  }
  await Orders.trigger({ order: 'o-1' }, { key: 'o-1', delay: '15m' });
  // @ts-expect-error runAt is a Date
  await Orders.trigger({ order: 'o-1' }, { runAt: '2027-01-01' });
}
