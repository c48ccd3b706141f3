/** What every dashboard page receives about the request it answers. */
import type { IncomingMessage } from 'node:http';
import type { DuctworkClient } from '../client/client.js';
import type { Sql } from '../db/connect.js';
import type { MetricsSource } from '../observe/metrics-handler.js';

/** Query values for a link; undefined and empty values are left out. */
export type LinkQuery = Record<string, string | number | undefined>;

export interface RequestContext {
  req: IncomingMessage;
  /** The path within the dashboard (`/pipelines/...`), without the mount prefix. */
  path: string;
  query: URLSearchParams;
  /** The form fields of a POST. */
  form: URLSearchParams | undefined;
  sql: Sql;
  client: DuctworkClient;
  /** What `/metrics` serves. */
  metrics: MetricsSource;
  /** The basic-auth user, or '' (CSRF tokens are bound to it). */
  identity: string;
  /** When the request arrived (the page's clock for live durations). */
  now: Date;
  version: string;
  liveIntervalMs: number;
  /** A link to a dashboard path under the mount prefix. */
  link(path: string, query?: LinkQuery): string;
  /** A CSRF token for a form posting to `action` (a dashboard path). */
  csrfToken(action: string): string;
}
