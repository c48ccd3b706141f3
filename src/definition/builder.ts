import { DefinitionError, type DuctworkErrorCode } from '../errors.js';
import type {
  Accepting,
  ChildInput,
  ChildOutput,
  ChildPipelineClass,
  ElementOf,
  FlowMismatch,
  Frame,
  MapOut,
  OutputOf,
  Pop,
  Routable,
  Top,
} from './flow-types.js';
import { durationSeconds, type Duration } from '../duration.js';
import type { DefinitionGraph, Edge, EdgeType } from './graph.js';

/** A pipeline class (a function with its own `static definition` drawn by `Pipeline.define`). */
function isPipelineClass(value: unknown): value is { name: string; pipelineName?: string } {
  if (typeof value !== 'function' || !Object.hasOwn(value, 'definition')) return false;
  const definition = (value as { definition?: { graph?: unknown } }).definition;
  return typeof definition === 'object' && definition !== null && 'graph' in definition;
}
import { stepNameOf, type StepClass } from './step.js';

/** What the builders of one definition share: the graph being drawn and the step classes seen. */
class Draft {
  readonly nodes: string[] = [];
  readonly edges: Record<string, Edge> = {};
  readonly steps = new Map<string, StepClass>();
  onHalt: StepClass | undefined;
  readonly children: Record<string, string> = {};
  readonly #perName = new Map<string, number>();

  constructor(readonly pipeline: string) {}

  addNode(klass: StepClass): string {
    const name = this.registerStep(klass);
    const n = (this.#perName.get(name) ?? 0) + 1;
    this.#perName.set(name, n);
    const node = `${name}.${n}`;
    this.nodes.push(node);
    this.edges[node] = { klass: name };
    return node;
  }

  /** A node where a child pipeline stands (named like a step node, after the pipeline). */
  addChild(klass: { name: string; pipelineName?: string }): string {
    const name = klass.pipelineName ?? klass.name;
    const n = (this.#perName.get(name) ?? 0) + 1;
    this.#perName.set(name, n);
    const node = `${name}.${n}`;
    this.nodes.push(node);
    this.edges[node] = { klass: name };
    this.children[node] = name;
    return node;
  }

  registerStep(klass: StepClass): string {
    const name = stepNameOf(klass);
    const known = this.steps.get(name);
    if (known && known !== klass) {
      throw new DefinitionError(
        'step_class_invalid',
        `Pipeline ${this.pipeline}: two different step classes are both named "${name}". ` +
          'Steps are found by name at run time; give one of them a distinct `static stepName`.',
        { details: { pipeline: this.pipeline, step: name } },
      );
    }
    this.steps.set(name, klass);
    return name;
  }

  link(from: string, edge: { type: EdgeType; to: string[] | Record<string, string>; after?: number | undefined } & Record<string, unknown>): void {
    const current = this.edges[from]!;
    const { after, ...rest } = edge;
    this.edges[from] = { ...rest, ...(after ? { after } : {}), klass: current.klass } as Edge;
  }
}

type Lanes = unknown[];
type Stack = unknown[];
type FrameKind = 'divide' | 'expand' | 'divert';
interface RuntimeFrame {
  kind: FrameKind;
  sources: string[];
}

const DESCRIBE: Record<FrameKind, string> = { divide: 'divided', expand: 'expanded', divert: 'diverted' };

/**
 * Draws a pipeline: each call adds steps and the transition that leads to them. The type
 * parameters track data flow so that a step whose input does not fit the previous output is a
 * compile error. `In` is the pipeline's input, `L` the current outputs, `S` the open fan-outs.
 */
export class PipelineBuilder<In = unknown, L extends Lanes = [], S extends Stack = []> {
  #draft: Draft;
  #frontier: string[];
  #stack: RuntimeFrame[];
  #where: string;
  /** A `wait` whose next step is the next `chain`. */
  #pendingWait: { event: string; timeout: number | undefined; onTimeout: string | undefined } | undefined;
  declare readonly __flow?: { input: In; lanes: L; stack: S };

  /** @internal Use `Pipeline.define`. */
  constructor(draft: Draft | string, frontier: string[] = [], where = '') {
    this.#draft = typeof draft === 'string' ? new Draft(draft) : draft;
    this.#frontier = frontier;
    this.#stack = [];
    this.#where = where;
  }

  /** Begins the pipeline with its first step, which receives the trigger input. */
  start<K extends StepClass>(step: K): PipelineBuilder<InputOfStart<K>, [OutputOf<K>], []> {
    if (this.#frontier.length > 0) this.#fail('start_error', 'Can only start pipeline definition once');
    const node = this.#draft.addNode(this.#stepClass(step, 'start'));
    this.#frontier = [node];
    return this as never;
  }

  /**
   * Runs `to` next on the same branch with the previous output as its input (after a `wait`: the
   * signal's payload). With `after`, the branch first waits that long (`'24h'`, or seconds), durably.
   */
  chain<K extends Accepting<L[number]>>(to: K | { to: K; after?: Duration }): PipelineBuilder<In, MapOut<L, OutputOf<K>>, S>;
  /**
   * A child pipeline stands where a step stands: the branch triggers `to` with the previous output,
   * waits (holding no slot) for it to end, and continues with its result; a child that halts or is
   * cancelled halts the branch (`child_halted`).
   */
  chain<C extends ChildPipelineClass>(
    to: C | { to: C; after?: Duration },
    ..._inputMatches: [L[number]] extends [ChildInput<C>] ? [] : [FlowMismatch<'the child pipeline does not accept the previous output'>]
  ): PipelineBuilder<In, MapOut<L, ChildOutput<C>>, S>;
  chain(to: unknown, ..._rest: unknown[]): PipelineBuilder<In, Lanes, S> {
    this.#requireStarted('chain_error', 'chaining');
    const klass = typeof to === 'function' ? to : (to as { to: unknown } | undefined)?.to;
    const after = typeof to === 'function' ? undefined : this.#after(to, 'chain_error');
    const node = isPipelineClass(klass) ? this.#draft.addChild(klass) : this.#draft.addNode(this.#stepClass(klass, 'chain'));
    const wait = this.#pendingWait;
    this.#pendingWait = undefined;
    for (const from of this.#frontier) {
      if (wait && from === wait.onTimeout) this.#draft.link(from, { type: 'chain', to: [node], after });
      else if (wait) this.#draft.link(from, { type: 'wait', to: [node], event: wait.event, after, ...(wait.timeout === undefined ? {} : { timeout: wait.timeout }), ...(wait.onTimeout ? { on_timeout: wait.onTimeout } : {}) });
      else this.#draft.link(from, { type: 'chain', to: [node], after });
    }
    this.#frontier = [node];
    return this as never;
  }

  /**
   * Waits, without holding a thread, a connection or a slot, for a signal named `event` sent to
   * this pipeline (`client.signal(...)`, `ductwork signal`); the next `chain` step receives its
   * payload `P`. A signal sent before the branch gets here is kept and delivered on arrival. With
   * `timeout`, the branch runs `onTimeout` (with the previous output) when no signal came in time,
   * or halts (`wait_timed_out`) without one; both lanes continue at the next `chain`.
   */
  wait<P = unknown>(options: { event: string; timeout?: Duration }): PipelineBuilder<In, [P], S>;
  wait<P, T extends Accepting<L[number]>>(options: { event: string; timeout: Duration; onTimeout: T }): PipelineBuilder<In, [P, OutputOf<T>], S>;
  wait(options: { event: string; timeout?: Duration; onTimeout?: unknown }): PipelineBuilder<In, Lanes, S> {
    this.#requireStarted('wait_error', 'waiting');
    if (this.#pendingWait) this.#fail('wait_error', 'a wait must be followed by a chain, not by another wait');
    const event = (options as { event?: unknown } | undefined)?.event;
    if (typeof event !== 'string' || !/^[A-Za-z0-9_.:-]{1,100}$/.test(event)) {
      this.#fail('wait_error', `wait needs \`event\`: a name of letters, digits, _ . : - (1-100 characters; got ${JSON.stringify(event) ?? String(event)})`);
    }
    const timeout = options.timeout === undefined ? undefined : this.#duration(options.timeout, 'wait_error', 'timeout');
    if (options.onTimeout !== undefined && timeout === undefined) this.#fail('wait_error', 'onTimeout needs a timeout');
    const onTimeout = options.onTimeout === undefined ? undefined : this.#draft.addNode(this.#stepClass(options.onTimeout, 'wait'));
    this.#pendingWait = { event, timeout, onTimeout };
    if (onTimeout) this.#frontier = [...this.#frontier, onTimeout];
    return this as never;
  }

  /**
   * Runs one new branch per element of the previous output (which must be an array); each
   * branch's `to` step receives its element. Close with `collapse`.
   */
  expand<K extends Accepting<ElementOf<L[number]>>>(
    options: [L[number]] extends [readonly unknown[]] ? { to: K; after?: Duration } : FlowMismatch<'expand needs the previous step to return an array'>,
  ): PipelineBuilder<In, [OutputOf<K>], [...S, Frame<'expand', L>]> {
    this.#requireStarted('expand_error', 'expanding chain');
    const after = this.#after(options, 'expand_error');
    const node = this.#draft.addNode(this.#stepClass((options as { to?: unknown })?.to, 'expand'));
    for (const from of this.#frontier) this.#draft.link(from, { type: 'expand', to: [node], after });
    this.#stack.push({ kind: 'expand', sources: this.#frontier });
    this.#frontier = [node];
    return this as never;
  }

  /**
   * Waits for every branch of the matching `expand` and runs `into` once with their outputs, in
   * the order of the expanded array. An empty expand runs `into` with `[]`.
   */
  collapse<K extends Accepting<L[number][]>>(
    options: Top<S> extends Frame<'expand', unknown[]> ? { into: K; after?: Duration } : FlowMismatch<'collapse needs an open expand'>,
  ): Top<S> extends Frame<'expand', infer Saved> ? PipelineBuilder<In, MapOut<Saved, OutputOf<K>>, Pop<S>> : never {
    this.#requireStarted('collapse_error', 'collapsing steps');
    const after = this.#after(options, 'collapse_error');
    const frame = this.#closeFrame('expand', 'collapse_error', 'Must expand pipeline definition before collapsing steps', 'collapse');
    const node = this.#draft.addNode(this.#stepClass((options as { into?: unknown })?.into, 'collapse'));
    for (const from of this.#frontier) this.#draft.link(from, { type: 'collapse', to: [node], after });
    for (const source of frame.sources) {
      const edge = this.#draft.edges[source]!;
      if (edge.type === 'expand') edge.collapse_into = node;
    }
    this.#frontier = [node];
    return this as never;
  }

  /**
   * Runs every step of `to` in parallel, each on its own branch, all with the previous output.
   * The optional block receives one builder per target (a lane) and returns the lanes, so each
   * can continue on its own before a `combine`.
   */
  divide<
    const T extends readonly Accepting<L[number]>[],
    const R extends readonly PipelineBuilder<In, Lanes, []>[] = LaneBuilders<In, T>,
  >(options: { to: T; after?: Duration }, block?: (lanes: LaneBuilders<In, T>) => R): PipelineBuilder<In, LanesOf<R>, [...S, Frame<'divide', L>]> {
    this.#requireStarted('divide_error', 'dividing chain');
    const after = this.#after(options, 'divide_error');
    const targets = (options as { to?: unknown } | undefined)?.to;
    if (!Array.isArray(targets) || targets.length === 0) {
      this.#fail('divide_error', 'divide needs `to`: a non-empty array of step classes');
    }
    const classes = targets.map((t: unknown) => this.#stepClass(t, 'divide', targets.length > 1));
    const nodes = classes.map((k) => this.#draft.addNode(k));
    for (const from of this.#frontier) this.#draft.link(from, { type: 'divide', to: nodes, after });
    this.#stack.push({ kind: 'divide', sources: this.#frontier });
    this.#frontier = block ? this.#runLanes('divide', nodes, (lanes) => block(lanes as never) as unknown) : nodes;
    return this as never;
  }

  /** Waits for every branch of the matching `divide` and runs `into` once with their outputs, in declaration order. */
  combine<K extends Accepting<L>>(
    options: Top<S> extends Frame<'divide', unknown[]> ? { into: K; after?: Duration } : FlowMismatch<'combine needs an open divide'>,
  ): Top<S> extends Frame<'divide', infer Saved> ? PipelineBuilder<In, MapOut<Saved, OutputOf<K>>, Pop<S>> : never {
    this.#requireStarted('combine_error', 'combining steps');
    const after = this.#after(options, 'combine_error');
    this.#closeFrame('divide', 'combine_error', 'Must divide pipeline definition before combining steps', 'combine');
    const node = this.#draft.addNode(this.#stepClass((options as { into?: unknown })?.into, 'combine'));
    for (const from of this.#frontier) this.#draft.link(from, { type: 'combine', to: [node], after });
    this.#frontier = [node];
    return this as never;
  }

  /**
   * Routes the branch to one step chosen by the previous output: a string, number or boolean is
   * the key; an object routes on its string `route` property; anything unmatched (and `null`)
   * goes to `otherwise`. The chosen step receives the previous output unchanged.
   */
  divert<
    const M extends { otherwise: Accepting<L[number]> } & Record<string, Accepting<L[number]>>,
    R extends { [P in keyof M]: PipelineBuilder<In, Lanes, []> } = DivertLanes<In, M>,
  >(
    options: [L[number]] extends [Routable] ? { to: M; after?: Duration } : FlowMismatch<'divert needs a string, number, boolean, null or { route } output'>,
    block?: (lanes: DivertLanes<In, M>) => R,
  ): PipelineBuilder<In, [R[keyof R] extends PipelineBuilder<In, infer LL, []> ? LL[number] : never], [...S, Frame<'divert', L>]> {
    this.#requireStarted('divert_error', 'diverting chain');
    const after = this.#after(options, 'divert_error');
    const map = (options as { to?: unknown } | undefined)?.to;
    if (map === null || typeof map !== 'object' || Array.isArray(map)) {
      this.#fail('divert_error', 'divert needs `to`: an object mapping route keys to step classes');
    }
    if (!Object.prototype.hasOwnProperty.call(map, 'otherwise')) {
      this.#fail('divert_error', 'Must specify an `otherwise` branch');
    }
    const keys = Object.keys(map);
    const to: Record<string, string> = {};
    for (const key of keys) {
      to[key] = this.#draft.addNode(this.#stepClass((map as Record<string, unknown>)[key], 'divert', keys.length > 1));
    }
    for (const from of this.#frontier) this.#draft.link(from, { type: 'divert', to, after });
    this.#stack.push({ kind: 'divert', sources: this.#frontier });
    const nodes = keys.map((k) => to[k]!);
    if (block) {
      this.#frontier = this.#runLanes('divert', nodes, (lanes) => {
        const byKey = Object.fromEntries(keys.map((k, i) => [k, lanes[i]]));
        const returned = block(byKey as never) as unknown;
        if (returned === undefined) return undefined;
        if (returned === null || typeof returned !== 'object') return returned;
        return keys.map((k) => (returned as Record<string, unknown>)[k]);
      });
    } else {
      this.#frontier = nodes;
    }
    return this as never;
  }

  /** Joins the routes of the matching `divert` into one step (no waiting: only one route ran). */
  converge<K extends Accepting<L[number]>>(
    options: Top<S> extends Frame<'divert', unknown[]> ? { into: K; after?: Duration } : FlowMismatch<'converge needs an open divert'>,
  ): Top<S> extends Frame<'divert', infer Saved> ? PipelineBuilder<In, MapOut<Saved, OutputOf<K>>, Pop<S>> : never {
    this.#requireStarted('converge_error', 'converging steps');
    const after = this.#after(options, 'converge_error');
    this.#closeFrame('divert', 'converge_error', 'Must divert pipeline definition before converging steps', 'converge');
    const node = this.#draft.addNode(this.#stepClass((options as { into?: unknown })?.into, 'converge'));
    for (const from of this.#frontier) this.#draft.link(from, { type: 'converge', to: [node], after });
    this.#frontier = [node];
    return this as never;
  }

  /**
   * Registers a step that runs once when a run halts, with `{ pipelineId, runId, pipeline, reasons }`.
   * It runs as a durable job after the halt is committed (at least once, with retries).
   */
  onHalt(handler: Accepting<HaltReport>): this {
    this.#draft.onHalt = this.#stepClass(handler, 'onHalt');
    this.#draft.registerStep(this.#draft.onHalt);
    return this;
  }

  /** @internal Freezes the drawing into a graph. */
  static finish(builder: PipelineBuilder<unknown, Lanes, Stack>): { graph: DefinitionGraph; steps: Map<string, StepClass> } {
    return builder.#finish();
  }

  /** @internal */
  static forPipeline(pipeline: string): PipelineBuilder {
    return new PipelineBuilder(new Draft(pipeline));
  }

  #finish(): { graph: DefinitionGraph; steps: Map<string, StepClass> } {
    this.#requireStarted('start_error', 'completing');
    if (this.#pendingWait) this.#fail('wait_error', `wait for "${this.#pendingWait.event}" must be followed by a chain: the step that receives the signal's payload`);
    const draft = this.#draft;
    const graph: DefinitionGraph = {
      version: 1,
      nodes: [...draft.nodes],
      edges: structuredClone(draft.edges),
      metadata: {
        ...(draft.onHalt ? { on_halt: { klass: stepNameOf(draft.onHalt) } } : {}),
        ...(Object.keys(draft.children).length > 0 ? { children: { ...draft.children } } : {}),
      },
    };
    return { graph: deepFreeze(graph), steps: new Map(draft.steps) };
  }

  #runLanes(kind: 'divide' | 'divert', nodes: string[], block: (lanes: PipelineBuilder[]) => unknown): string[] {
    const lanes = nodes.map((node, i) => new PipelineBuilder(this.#draft, [node], `${this.#where}${kind} lane ${i + 1}: `));
    const returned = block(lanes as PipelineBuilder[]);
    const result = returned === undefined ? lanes : returned;
    // Every method returns its own builder, so a lane "as received or continued" is the very object
    // received at that position: a repeated, swapped or foreign lane would leave a target dangling
    // (its fan-in never fires) or give the fan-in an input order its type does not describe.
    if (!Array.isArray(result) || result.length !== nodes.length || !result.every((b, i) => b === lanes[i])) {
      this.#fail(
        kind === 'divide' ? 'divide_error' : 'divert_error',
        `the ${kind} block must return its lanes (${kind === 'divide' ? `an array of ${nodes.length} builders` : 'an object with a builder per route key'}), as received or continued`,
      );
    }
    const frontier: string[] = [];
    result.forEach((lane: PipelineBuilder, i) => {
      const open = lane.#stack.at(-1);
      if (open) {
        this.#fail(
          kind === 'divide' ? 'divide_error' : 'divert_error',
          `${kind} lane ${i + 1} leaves a ${open.kind} open; close it inside the block (${open.kind === 'expand' ? 'collapse' : open.kind === 'divide' ? 'combine' : 'converge'})`,
        );
      }
      frontier.push(...lane.#frontier);
    });
    return frontier;
  }

  /** The `after` option of a transition, in seconds (undefined when absent or 0). */
  #after(options: unknown, code: DuctworkErrorCode): number | undefined {
    const after = (options as { after?: unknown } | null | undefined)?.after;
    if (after === undefined) return undefined;
    return this.#duration(after, code, 'after') || undefined;
  }

  #duration(value: unknown, code: DuctworkErrorCode, what: string): number {
    try {
      return durationSeconds(value, what);
    } catch (error) {
      this.#fail(code, (error as Error).message);
    }
  }

  #closeFrame(kind: FrameKind, code: DuctworkErrorCode, emptyMessage: string, verb: string): RuntimeFrame {
    const top = this.#stack.at(-1);
    if (!top) this.#fail(code, emptyMessage);
    if (top.kind !== kind) {
      const hint = verb === 'converge' ? 'divided/expanded' : DESCRIBE[top.kind];
      this.#fail(code, `Ambiguous ${verb} on most recently ${hint} definition`);
    }
    return this.#stack.pop()!;
  }

  #requireStarted(code: DuctworkErrorCode, doing: string): void {
    if (this.#frontier.length === 0) {
      this.#fail(code === 'start_error' ? code : 'start_error', `Must start pipeline definition before ${doing}`);
    }
    if (this.#pendingWait && code !== 'chain_error' && code !== 'wait_error') {
      this.#fail('wait_error', `wait for "${this.#pendingWait.event}" must be followed by a chain (the step that receives the signal's payload), not by ${doing}`);
    }
  }

  #stepClass(value: unknown, call: string, plural = false): StepClass {
    const valid =
      typeof value === 'function' &&
      typeof (value as { prototype?: { execute?: unknown } }).prototype?.execute === 'function' &&
      ((value as { prototype: { execute: (...a: unknown[]) => unknown } }).prototype.execute.length <= 1);
    if (!valid) {
      const shown = typeof value === 'function' ? value.name || 'anonymous function' : JSON.stringify(value) ?? String(value);
      this.#fail(
        'step_class_invalid',
        `${plural ? 'Arguments' : 'Argument'} must be a valid step class (in ${call}: got ${shown}; ` +
          'a step class extends Step and has an execute(input) method)',
      );
    }
    return value as StepClass;
  }

  #fail(code: DuctworkErrorCode, message: string): never {
    throw new DefinitionError(code, `Pipeline ${this.#draft.pipeline}: ${this.#where}${message}`, {
      details: { pipeline: this.#draft.pipeline },
    });
  }
}

/** Input of the first step: what `trigger` accepts. */
type InputOfStart<K> = K extends new () => { execute(input: infer I): unknown } ? I : never;

/** One lane builder per divide target, in declaration order. */
export type LaneBuilders<In, T extends readonly unknown[]> = { -readonly [I in keyof T]: PipelineBuilder<In, [OutputOf<T[I]>], []> };

/** One lane builder per divert route key. */
export type DivertLanes<In, M> = { [P in keyof M]: PipelineBuilder<In, [OutputOf<M[P]>], []> };

/** The lanes after a divide block: every returned lane's outputs, in order. */
export type LanesOf<R> = R extends readonly []
  ? []
  : R extends readonly [PipelineBuilder<unknown, infer L1, []>, ...infer Rest]
  ? [...L1, ...LanesOf<Rest>]
    : R extends readonly PipelineBuilder<unknown, infer LL, []>[]
      ? LL
      : [];

/** What a pipeline's `onHalt` step receives. */
export interface HaltReport {
  pipelineId: string;
  runId: string;
  pipeline: string;
  /** The halt reason of every halted branch of the run; `['cancelled']` when it was cancelled. */
  reasons: string[];
  /** For a cancel: the reason given to `cancel` (null when none was). */
  cancelReason?: string | null;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const item of Object.values(value)) deepFreeze(item);
    Object.freeze(value);
  }
  return value;
}
