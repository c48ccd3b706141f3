import { settingFor, type DuctworkConfig } from './config.js';
import { CONFIG_SCHEMA } from './schema.js';

/** Keep-times in seconds (0 = forever): the defaults, and every pipeline class the configuration names. */
export interface RetentionKeepTimes {
  completed: number;
  halted: number;
  byPipeline: { pipeline: string; completed: number; halted: number }[];
}

/**
 * The keep-times of `retention.completed` / `retention.halted`: the defaults, and every pipeline
 * class the configuration names (whether or not this engine runs it: any engine may clean any row).
 */
export function keepTimes(config: DuctworkConfig): RetentionKeepTimes {
  const { completed, halted } = config.retention;
  const defaults = {
    completed: settingFor(completed, CONFIG_SCHEMA.retention.completed.default, ''),
    halted: settingFor(halted, CONFIG_SCHEMA.retention.halted.default, ''),
  };
  const named = new Set([completed, halted].flatMap((setting) => (typeof setting === 'number' ? [] : Object.keys(setting).filter((k) => k !== 'default'))));
  return {
    ...defaults,
    byPipeline: [...named].map((pipeline) => ({ pipeline, completed: settingFor(completed, defaults.completed, pipeline), halted: settingFor(halted, defaults.halted, pipeline) })),
  };
}
