/**
 * Ductwork for Node: durable multi-step pipelines on PostgreSQL.
 *
 * Define steps and pipelines, trigger runs from anywhere with a database connection, and run
 * them with an engine embedded in your process (`Ductwork.start`) or the `ductwork` CLI.
 */
export { Step, type StepContext, type StepRuntimeInfo, type StepClass } from './definition/step.js';
export type { Json } from './definition/json.js';
export { PipelineBuilder, type HaltReport } from './definition/builder.js';
export type { PipelineDefinition, ResultOf } from './definition/define.js';
export type { DefinitionGraph, Edge, EdgeType, ToTransition } from './definition/graph.js';
export type { InputOf, OutputOf } from './definition/flow-types.js';
export { Pipeline, type PipelineClass } from './client/pipeline.js';
export { DuctworkClient, type ClientOptions, type PruneOptions, type PruneReport } from './client/client.js';
export type { Duration } from './duration.js';
export { setDefaultClient } from './client/default-client.js';
export type { ReviveOptions } from './client/revive.js';
export type { PipelineHandle, PipelineStatusReport, WaitOptions } from './client/handle.js';
export type {
  Page, PageOptions, PipelineQuery, PipelineSummary, RunSummary, RunSelector, BranchInfo, StepQuery, StepInfo, StepAttempt, StepErrorInfo,
} from './client/read-api.js';
export type { StepStatus } from './db/queries/steps.js';
export { Ductwork, Engine, type StartOptions } from './runtime/engine.js';
export { createDashboard, type DashboardOptions, type DashboardHandler } from './dashboard/handler.js';
export { listenDashboard, type DashboardServerOptions, type DashboardServer } from './dashboard/listen.js';
export type { DashboardAuthHook, BasicAuthCredentials } from './dashboard/access.js';
export type { LifecycleHooks, HookInfo } from './runtime/hooks.js';
export { createMetricsHandler, listenMetrics, type MetricsHandler, type MetricsServer, type MetricsSource } from './observe/metrics-handler.js';
export type { EngineMetrics, StepOutcome } from './observe/metrics.js';
export { SPAN_NAMES, ATTRIBUTES, TRACER_NAME } from './observe/tracing.js';
export { resolveConfig, type DuctworkConfig, type DuctworkOptions } from './config/config.js';
export { connect } from './db/connect.js';
export { migrate, assertMigrated, loadMigrations, type MigrateOptions, type MigrateDatabaseOptions } from './db/migrate.js';
export type { HaltReason } from './db/queries/branches.js';
export type { PipelineStatus } from './db/queries/pipelines.js';
export {
  DuctworkError,
  DefinitionError,
  ConfigError,
  DatabaseError,
  StepError,
  ContextError,
  ClientError,
  type DuctworkErrorCode,
} from './errors.js';
export type { Logger, LogLevel } from './log.js';
