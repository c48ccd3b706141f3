/** What a dashboard route answers with, and the one error type that carries an HTTP status. */
import type { Html } from './html.js';

/** A refusal or a problem with the request, shown to the user with its status. */
export class HttpError extends Error {
  override name = 'HttpError';
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }
}

/** A route's answer: a page (HTML or another type) or a redirect after a POST. */
export type Outcome =
  | { kind: 'page'; status?: number; body: Html | string; type?: string; headers?: Record<string, string> }
  | { kind: 'redirect'; location: string };

/** An HTML page with status 200 unless said otherwise. */
export function page(body: Html, status = 200): Outcome {
  return { kind: 'page', status, body };
}
