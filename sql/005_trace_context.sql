-- Tracing: the W3C trace context (`traceparent`) of the span that triggered a pipeline, captured
-- at trigger time and stored once per pipeline. Every execution of every run of the pipeline
-- (retries, crash re-runs, revives) starts its span as a child of it, so one trace holds the whole
-- pipeline. Null when the triggering process had no OpenTelemetry SDK (nothing to continue).
-- A nullable column without a default: adding it rewrites nothing.
ALTER TABLE :"schema".pipelines ADD COLUMN trace_context text;
