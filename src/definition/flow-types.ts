/**
 * Type-level data flow of the builder: each transition checks at compile time that the current
 * outputs fit the next step's input. "Lanes" are the outputs of the current frontier (one per
 * parallel node of the innermost divide); the "stack" remembers open fan-outs so a fan-in knows
 * what it closes and what input it receives.
 */
import type { StepClass } from './step.js';

/** The input type a step class's `execute` takes (`unknown` when it takes none). */
export type InputOf<K> = K extends new () => { execute(input: infer I): unknown } ? I : never;

/** The resolved output type of a step class's `execute`. */
export type OutputOf<K> = K extends new () => { execute(...args: never[]): infer R } ? Awaited<R> : never;

/** A pipeline class, as a child of another pipeline: its name and its definition's input and result types. */
export interface ChildPipelineClass<I = any, O = unknown> {
  readonly name: string;
  pipelineName?: string;
  definition?: { readonly graph: unknown; readonly __types?: { input: I; output: O } };
}
/** The trigger input and the result of a child pipeline class. */
export type ChildInput<C> = C extends { definition?: { readonly __types?: { input: infer I } } } ? I : never;
export type ChildOutput<C> = C extends { definition?: { readonly __types?: { output: infer O } } } ? O : never;

/** A step class whose `execute` accepts `T`. */
export type Accepting<T> = StepClass & (new () => { execute: (input: T) => unknown });

/** The element type of an array type (never for non-arrays). */
export type ElementOf<T> = T extends readonly (infer E)[] ? E : never;

/** A value `divert` can route on: a string, number or boolean key, `null` (otherwise), or `{ route }`. */
export type Routable = string | number | boolean | null | { route: string };

/** An open fan-out on the builder's stack, with the lanes that were current when it opened. */
export interface Frame<K extends 'divide' | 'expand' | 'divert', Saved extends unknown[]> {
  kind: K;
  saved: Saved;
}

/** Shown in place of a parameter type when a transition does not fit; read it in the compiler error. */
export interface FlowMismatch<Message extends string> {
  __ductwork_error: Message;
}

/**
 * The innermost open fan-out. An empty stack gives a frame kind no fan-in matches: `never` here
 * would satisfy every `Top<S> extends Frame<...>` check and let a fan-in compile with nothing open.
 */
export type Top<S extends unknown[]> = S extends [...unknown[], infer F] ? F : { kind: 'none' };
export type Pop<S extends unknown[]> = S extends [...infer R, unknown] ? R : [];
export type MapOut<L extends unknown[], O> = { [I in keyof L]: O };

/** Whether a stack still holds an open divide or expand (the run then ends on several branches). */
export type HasFanOut<S extends unknown[]> = S extends [infer F, ...infer R]
  ? F extends Frame<'divide' | 'expand', unknown[]>
    ? true
    : HasFanOut<R>
  : false;
