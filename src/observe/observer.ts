/**
 * What the engine's loops tell about their work, turned into spans (OpenTelemetry) and metrics
 * (Prometheus) in one place, so that the loops carry one optional hook each and no telemetry code.
 */
import type { Attributes } from '@opentelemetry/api';
import type { EngineMetrics, StepOutcome } from './metrics.js';
import { formatTraceparent } from './trace-context.js';
import { ATTRIBUTES, endSpan, recordAdvanceSpan, startStepSpan, tracingActive, type SpanError } from './tracing.js';

/** One attempt of a step, as claimed. */
export interface ExecutionFacts {
  pipeline: string;
  step: string;
  node: string;
  pipelineId: string;
  runId: string;
  branchId: string | null;
  stepId: string;
  executionId: string;
  attempt: number;
  crashCount: number;
  /** The pipeline's stored `traceparent` (read by the claim only while tracing is active). */
  traceContext?: string | null | undefined;
  /** Seconds from the attempt being due to its claim. */
  queueWaitSeconds?: number | undefined;
}

/** An attempt being watched: the `traceparent` its worker thread runs under, and how it ends. */
export interface ExecutionObservation {
  /** The attempt's span as a `traceparent`; undefined without an SDK. */
  readonly traceparent: string | undefined;
  /** Records the outcome once it is durable (or known lost). Later calls do nothing. */
  end(outcome: StepOutcome, error?: SpanError): void;
}

/** One branch moved on by an advancer. */
export interface AdvanceFacts {
  pipeline: string;
  pipelineId: string;
  runId: string;
  branchId: string;
  /** The finished step whose branch moves on. */
  stepId: string;
  step: string;
  node: string;
  /** The move's kind: continue, finish, divide, expand, empty, fanIn, wait, halt. */
  move: string;
  haltReason?: string | undefined;
  traceContext?: string | null | undefined;
}

/** The engine's telemetry: its metrics, and spans through whatever SDK the application registered. */
export class EngineObserver {
  readonly metrics: EngineMetrics;

  constructor(metrics: EngineMetrics) {
    this.metrics = metrics;
  }

  /** Whether an SDK is registered: claims then read each pipeline's trace context. */
  get tracing(): boolean {
    return tracingActive();
  }

  executionStarted(facts: ExecutionFacts): ExecutionObservation {
    const { metrics } = this;
    metrics.stepStarted(facts.pipeline, facts.step, facts.queueWaitSeconds ?? 0);
    const startedAt = performance.now();
    // Without an SDK the span would be a no-op: skip building its attributes (a cost per step).
    if (!tracingActive()) {
      let done = false;
      return {
        traceparent: undefined,
        end(outcome) {
          if (done) return;
          done = true;
          metrics.stepEnded(facts.pipeline, facts.step, outcome, (performance.now() - startedAt) / 1000);
        },
      };
    }
    const span = startStepSpan(facts.traceContext, {
      [ATTRIBUTES.pipeline]: facts.pipeline,
      [ATTRIBUTES.step]: facts.step,
      [ATTRIBUTES.node]: facts.node,
      [ATTRIBUTES.pipelineId]: facts.pipelineId,
      [ATTRIBUTES.runId]: facts.runId,
      ...(facts.branchId ? { [ATTRIBUTES.branchId]: facts.branchId } : {}),
      [ATTRIBUTES.stepId]: facts.stepId,
      [ATTRIBUTES.executionId]: facts.executionId,
      [ATTRIBUTES.attempt]: facts.attempt,
      [ATTRIBUTES.crashCount]: facts.crashCount,
      [ATTRIBUTES.queueWaitMs]: Math.round((facts.queueWaitSeconds ?? 0) * 1000),
    });
    let ended = false;
    return {
      traceparent: formatTraceparent(span.spanContext()),
      end(outcome, error) {
        if (ended) return;
        ended = true;
        metrics.stepEnded(facts.pipeline, facts.step, outcome, (performance.now() - startedAt) / 1000);
        endSpan(span, outcome === 'completed' || outcome === 'lost' ? undefined : error ?? { name: outcome, message: outcome }, { [ATTRIBUTES.outcome]: outcome });
      },
    };
  }

  /** Branches moved on by one advancing transaction that started at `startTime` (epoch ms). */
  advanced(moves: readonly AdvanceFacts[], startTime: number): void {
    const traced = tracingActive();
    for (const move of moves) {
      this.metrics.advanced(move.pipeline, move.haltReason);
      if (!traced) continue;
      const attributes: Attributes = {
        [ATTRIBUTES.pipeline]: move.pipeline,
        [ATTRIBUTES.pipelineId]: move.pipelineId,
        [ATTRIBUTES.runId]: move.runId,
        [ATTRIBUTES.branchId]: move.branchId,
        [ATTRIBUTES.stepId]: move.stepId,
        [ATTRIBUTES.step]: move.step,
        [ATTRIBUTES.node]: move.node,
        [ATTRIBUTES.outcome]: move.move,
        ...(move.haltReason ? { [ATTRIBUTES.haltReason]: move.haltReason } : {}),
      };
      recordAdvanceSpan(move.traceContext, startTime, attributes, move.haltReason ? { name: 'BranchHalted', code: move.haltReason, message: `branch halted: ${move.haltReason}` } : undefined);
    }
  }

  /** The reaper re-enqueued `count` claims of dead processes. */
  reaped(count: number): void {
    this.metrics.reaped(count);
  }
}
