/**
 * W3C trace context (`traceparent`) as text and back, without a propagator: the engine stores one
 * with each pipeline and hands it to worker threads, which must read it whether or not the
 * application registered a propagator there.
 */
import { TraceFlags, context, isSpanContextValid, trace, type SpanContext } from '@opentelemetry/api';

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** `00-<trace id>-<span id>-<flags>` for a valid span context, else undefined. */
export function formatTraceparent(context: SpanContext): string | undefined {
  if (!isSpanContextValid(context)) return undefined;
  return `00-${context.traceId}-${context.spanId}-${(context.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}

/** The remote span context a stored `traceparent` names, or undefined when it is absent or malformed. */
export function parseTraceparent(text: string | null | undefined): SpanContext | undefined {
  const match = text ? TRACEPARENT.exec(text) : null;
  if (!match) return undefined;
  const context: SpanContext = { traceId: match[1]!, spanId: match[2]!, traceFlags: parseInt(match[3]!, 16) & TraceFlags.SAMPLED, isRemote: true };
  return isSpanContextValid(context) ? context : undefined;
}

/**
 * Runs `fn` with the span a `traceparent` names as its parent context, so spans the step starts
 * itself nest under its execution span. Without an SDK in this thread (no context manager) the
 * call is a plain call; the step can still read `this.execution.traceparent`.
 */
export function withTraceparent<T>(traceparent: string | undefined, fn: () => T): T {
  const parent = parseTraceparent(traceparent);
  return parent ? context.with(trace.setSpanContext(context.active(), parent), fn) : fn();
}
