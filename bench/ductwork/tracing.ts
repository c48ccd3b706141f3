/**
 * The tracing cell's SDK: with BENCH_OTEL=1 the ductwork child registers an OpenTelemetry SDK
 * before the engine starts, as an application would, with a batch processor and an exporter that
 * counts spans and drops them (what is measured is the engine's cost, not an exporter's network).
 * The SDK is a dependency of the bench (bench/package.json), never of the engine.
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const benchRequire = createRequire(new URL('../../../bench/package.json', import.meta.url));

interface SdkBase {
  BatchSpanProcessor: new (exporter: unknown, config?: Record<string, number>) => unknown;
}
interface SdkNode {
  NodeTracerProvider: new (config: { spanProcessors: unknown[] }) => { register(): void; shutdown(): Promise<void> };
}

/** Registers the SDK; returns how many spans it exported so far and how to flush it. */
export async function installTracing(): Promise<{ exported: () => number; shutdown: () => Promise<void> }> {
  const load = async <T>(name: string) => (await import(pathToFileURL(benchRequire.resolve(name)).href)) as T;
  const { BatchSpanProcessor } = await load<SdkBase>('@opentelemetry/sdk-trace-base');
  const { NodeTracerProvider } = await load<SdkNode>('@opentelemetry/sdk-trace-node');
  let exported = 0;
  const exporter = {
    export(spans: unknown[], done: (result: { code: number }) => void) {
      exported += spans.length;
      done({ code: 0 });
    },
    shutdown: async () => {},
  };
  const provider = new NodeTracerProvider({
    spanProcessors: [new BatchSpanProcessor(exporter, { maxQueueSize: 65_536, maxExportBatchSize: 2_048, scheduledDelayMillis: 500 })],
  });
  provider.register();
  return { exported: () => exported, shutdown: () => provider.shutdown() };
}
