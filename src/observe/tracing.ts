/**
 * The engine's OpenTelemetry spans, through `@opentelemetry/api` only: without an SDK registered
 * by the application every call here is a no-op. Span and attribute names are the public
 * contract (README, "Observability"): keep them stable.
 */
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, context, trace, type Attributes, type Span, type Tracer } from '@opentelemetry/api';
import { formatTraceparent, parseTraceparent } from './trace-context.js';

/** The instrumentation scope of every Ductwork span. */
export const TRACER_NAME = 'ductwork';

/** Span names. */
export const SPAN_NAMES = {
  /** `trigger()`: one transaction creates the pipeline. Parent of every other span of the pipeline. */
  trigger: 'ductwork.trigger',
  /** One attempt of one step, from its claim to its recorded outcome (in the engine's main thread). */
  step: 'ductwork.step',
  /** One branch moved on by an advancer after a step finished (routing, fan-out, fan-in, halt). */
  advance: 'ductwork.advance',
} as const;

/** Attribute names, on every span where they apply. */
export const ATTRIBUTES = {
  pipeline: 'ductwork.pipeline',
  pipelineId: 'ductwork.pipeline_id',
  runId: 'ductwork.run_id',
  branchId: 'ductwork.branch_id',
  step: 'ductwork.step',
  stepId: 'ductwork.step_id',
  node: 'ductwork.node',
  executionId: 'ductwork.execution_id',
  /** 1 for the first attempt, 2 after one error retry... */
  attempt: 'ductwork.attempt',
  /** Infrastructure crashes of the step before this attempt. */
  crashCount: 'ductwork.crash_count',
  /** completed | failed | crashed | timed_out | lost (a step); the move kind (an advancement). */
  outcome: 'ductwork.outcome',
  /** Milliseconds from the attempt being due to its claim. */
  queueWaitMs: 'ductwork.queue_wait_ms',
  errorClass: 'ductwork.error.class',
  errorCode: 'ductwork.error.code',
  haltReason: 'ductwork.halt_reason',
} as const;

/**
 * The tracer of the provider registered now. Asked for at each span, never kept: an application
 * whose own copy of @opentelemetry/api registers the SDK (another minor version beside ours) does
 * so through the API's global, which a tracer taken before the registration would not see.
 */
function tracer(): Tracer {
  return trace.getTracer(TRACER_NAME);
}

/**
 * Whether an SDK registered a tracer provider in this thread. Decides whether claims read the
 * pipelines' stored trace context at all.
 */
export function tracingActive(): boolean {
  // Before any registration the API answers with its proxy provider, which has no delegate yet.
  const provider = trace.getTracerProvider() as { getDelegateTracer?: (name: string) => Tracer | undefined };
  return typeof provider.getDelegateTracer !== 'function' || provider.getDelegateTracer(TRACER_NAME) !== undefined;
}

/** Starts the span of a trigger, a child of the caller's active span; `traceContext` is what the pipeline stores (null without an SDK). */
export function startTriggerSpan(pipeline: string): { span: Span; traceContext: string | null } {
  const span = tracer().startSpan(SPAN_NAMES.trigger, { kind: SpanKind.PRODUCER, attributes: { [ATTRIBUTES.pipeline]: pipeline } }, context.active());
  return { span, traceContext: formatTraceparent(span.spanContext()) ?? null };
}

/** An error as span attributes and status. */
export interface SpanError {
  name: string;
  code?: string | undefined;
  message: string;
}

/** Ends a span, marking it failed with `error` when given. */
export function endSpan(span: Span, error?: SpanError | unknown, attributes: Attributes = {}): void {
  if (error !== undefined) {
    const e = error as Partial<SpanError>;
    span.setAttributes({ [ATTRIBUTES.errorClass]: e.name ?? 'Error', ...(typeof e.code === 'string' ? { [ATTRIBUTES.errorCode]: e.code } : {}) });
    span.setStatus({ code: SpanStatusCode.ERROR, message: `${e.name ?? 'Error'}: ${e.message ?? String(error)}`.slice(0, 500) });
  }
  span.setAttributes(attributes);
  span.end();
}

/** The parent context of a pipeline's spans: its stored trigger span, or a new trace when it has none. */
function pipelineContext(traceContext: string | null | undefined) {
  const parent = parseTraceparent(traceContext);
  return parent ? trace.setSpanContext(ROOT_CONTEXT, parent) : ROOT_CONTEXT;
}

/** Starts the span of one step attempt under the pipeline's trigger span. */
export function startStepSpan(traceContext: string | null | undefined, attributes: Attributes): Span {
  return tracer().startSpan(SPAN_NAMES.step, { kind: SpanKind.CONSUMER, attributes }, pipelineContext(traceContext));
}

/** Records an advancement that ran from `startTime` until now, under the pipeline's trigger span. */
export function recordAdvanceSpan(traceContext: string | null | undefined, startTime: number, attributes: Attributes, error?: SpanError): void {
  const span = tracer().startSpan(SPAN_NAMES.advance, { kind: SpanKind.INTERNAL, attributes, startTime }, pipelineContext(traceContext));
  endSpan(span, error);
}

export { formatTraceparent };
