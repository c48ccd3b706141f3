import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError, DuctworkError } from '../errors.js';
import { findPipelines, stepRegistry, type FoundPipeline } from '../definition/registry.js';
import type { StepClass } from '../definition/step.js';
import type { LifecycleHooks } from './hooks.js';

/** The user's app module, loaded: its URL (for worker threads), pipelines and step registry. */
export interface AppModule {
  url: string;
  pipelines: FoundPipeline[];
  steps: Map<string, StepClass>;
  /** The module's `hooks` export, if any. */
  hooks: LifecycleHooks | undefined;
}

/** Turns `app` (a path relative to the working directory, an absolute path, or a URL) into a URL. */
export function appModuleUrl(app: string): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(app) || app.startsWith('file:')) return app;
  return pathToFileURL(isAbsolute(app) ? app : resolve(process.cwd(), app)).href;
}

/** Imports the app module and collects its pipelines; a module without any is an error. */
export async function loadAppModule(app: string | undefined): Promise<AppModule> {
  if (!app) {
    throw new ConfigError('config_invalid', 'app is not set: name the module that exports your pipeline classes (config `app:` or Ductwork.start({ app })).', {
      details: { key: 'app' },
    });
  }
  const url = appModuleUrl(app);
  let exports: Record<string, unknown>;
  try {
    exports = (await import(url)) as Record<string, unknown>;
  } catch (cause) {
    throw new ConfigError('app_module_invalid', `Cannot load the app module ${app}: ${(cause as Error).message}`, { cause, details: { key: 'app', app } });
  }
  const pipelines = findPipelines(exports);
  if (pipelines.length === 0) {
    throw new ConfigError('app_module_invalid', `The app module ${app} exports no pipeline: export classes that extend Pipeline with \`static definition = Pipeline.define(...)\`.`, {
      details: { key: 'app', app },
    });
  }
  try {
    const hooks = exports.hooks;
    if (hooks !== undefined && (hooks === null || typeof hooks !== 'object')) {
      throw new ConfigError('app_module_invalid', `The app module ${app} exports \`hooks\`, but it is not an object of lifecycle hooks.`, { details: { app } });
    }
    return { url, pipelines, steps: stepRegistry(pipelines), hooks: hooks as LifecycleHooks | undefined };
  } catch (error) {
    if (error instanceof DuctworkError) throw error;
    throw new ConfigError('app_module_invalid', `The app module ${app} is invalid: ${(error as Error).message}`, { cause: error });
  }
}

/** The pipelines this process runs: all of them for "*", else the named ones (unknown names are errors). */
export function selectPipelines(app: AppModule, wanted: '*' | string[]): FoundPipeline[] {
  if (wanted === '*') return app.pipelines;
  const byName = new Map(app.pipelines.map((p) => [p.name, p]));
  return wanted.map((name) => {
    const found = byName.get(name);
    if (!found) {
      throw new ConfigError('unknown_pipeline', `pipelines: "${name}" is not exported by the app module (known: ${[...byName.keys()].join(', ')}).`, {
        details: { key: 'pipelines', pipeline: name },
      });
    }
    return found;
  });
}
