import type { Logger } from '../log.js';

/** What a lifecycle hook is told about the component that started or stopped. */
export interface HookInfo {
  /** `ductwork.supervisor`, `ductwork.job_worker.<Pipeline>`, `ductwork.pipeline_advancer.<Pipeline>.<n>`. */
  name: string;
  role: 'supervisor' | 'job_worker' | 'pipeline_advancer';
  pipeline?: string;
  processId: string;
}

type Hook = (info: HookInfo) => void | Promise<void>;

/**
 * The original's six lifecycle hooks. Export them from the app module as `hooks`, or pass them to
 * `Ductwork.start({ hooks })`; each may be one function or a list run in order. A hook that
 * throws is logged, never fatal.
 */
export interface LifecycleHooks {
  onSupervisorStart?: Hook | Hook[];
  onSupervisorStop?: Hook | Hook[];
  onAdvancerStart?: Hook | Hook[];
  onAdvancerStop?: Hook | Hook[];
  onWorkerStart?: Hook | Hook[];
  onWorkerStop?: Hook | Hook[];
}

/** Runs every registered function of one hook, in order, logging (not throwing) failures. */
export async function runHook(sources: LifecycleHooks[], hook: keyof LifecycleHooks, info: HookInfo, log: Logger): Promise<void> {
  for (const source of sources) {
    const registered = source[hook];
    for (const fn of Array.isArray(registered) ? registered : registered ? [registered] : []) {
      try {
        await fn(info);
      } catch (error) {
        log.error(`Lifecycle hook ${hook} failed`, { component: info.name, error: (error as Error)?.message ?? String(error) });
      }
    }
  }
}
