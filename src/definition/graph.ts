/**
 * The frozen, JSON form of a pipeline definition. It is stored with every run, and the advancer
 * routes each run with its own stored copy, never with the current code.
 */

/** How a branch reached a step (stored on each step row). `start` for the first step. */
export type ToTransition =
  | 'start'
  | 'chain'
  | 'divide'
  | 'combine'
  | 'expand'
  | 'collapse'
  | 'divert'
  | 'converge'
  | 'on_halt'
  | 'wait';

/** The transition types an edge can carry. */
export type EdgeType = 'chain' | 'divide' | 'combine' | 'expand' | 'collapse' | 'divert' | 'converge' | 'wait';

/** Outgoing transition of a node. A node without `type` is terminal. */
export type Edge = TerminalEdge | LinearEdge | FanInEdge | DivideEdge | ExpandEdge | DivertEdge | WaitEdge;

/** What every edge may carry besides its targets. */
interface EdgeOptions {
  /**
   * Seconds the branch waits after the node finishes before the transition runs (`after`); on a
   * `wait` edge, seconds after the signal is delivered before the next step runs.
   */
  after?: number;
}

/** A node where the branch ends. */
export interface TerminalEdge {
  klass: string;
  type?: undefined;
  after?: undefined;
}
/** The branch continues at one node. */
export interface LinearEdge extends EdgeOptions {
  klass: string;
  type: 'chain' | 'converge';
  to: [string];
}
/** The branch arrives at the fan-in of its innermost fan-out. */
export interface FanInEdge extends EdgeOptions {
  klass: string;
  type: 'combine' | 'collapse';
  to: [string];
}
/** One child branch per target node. */
export interface DivideEdge extends EdgeOptions {
  klass: string;
  type: 'divide';
  to: string[];
}
/** One child branch per element; `collapse_into` is fired with `[]` when the array is empty. */
export interface ExpandEdge extends EdgeOptions {
  klass: string;
  type: 'expand';
  to: [string];
  collapse_into?: string;
}
/** `to` maps a route key to a node; `otherwise` is the fallback and always present. */
export interface DivertEdge extends EdgeOptions {
  klass: string;
  type: 'divert';
  to: Record<string, string>;
}

/**
 * The branch waits for a signal named `event` sent to its pipeline; its payload is the input of
 * `to`. After `timeout` seconds (if set) it runs `on_timeout` with the node's output instead, or halts
 * (`wait_timed_out`) without one.
 */
export interface WaitEdge extends EdgeOptions {
  klass: string;
  type: 'wait';
  to: [string];
  event: string;
  timeout?: number;
  on_timeout?: string;
}

/** A validated, frozen definition graph. */
export interface DefinitionGraph {
  version: 1;
  /** Node names in insertion order; the first is the start node. */
  nodes: string[];
  edges: Record<string, Edge>;
  /** `children`: nodes where a child pipeline stands (node → the pipeline class's name). */
  metadata: { on_halt?: { klass: string }; children?: Record<string, string> };
}

/** Node name of the synthetic step that runs a pipeline's `onHalt` handler. */
export const ON_HALT_NODE = '$on_halt';
