/**
 * CSRF protection for the dashboard's actions. Every form carries a token: an HMAC, under a
 * secret of this dashboard instance, of the action's path, the user and the time it was issued,
 * valid for 12 hours. A POST needs a valid token for its own path, and when the browser names the
 * page it came from (Origin, else Referer), that page must be on this host. A cross-site form can
 * neither read a token nor forge one.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { HttpError } from './responses.js';

const VALID_MS = 12 * 3600 * 1000;

export class CsrfTokens {
  readonly #secret: Buffer;

  /** `secret` shares tokens between processes behind one address; by default each instance has its own. */
  constructor(secret?: string) {
    this.#secret = secret === undefined ? randomBytes(32) : Buffer.from(secret, 'utf8');
  }

  #mac(issued: string, action: string, identity: string): Buffer {
    return createHmac('sha256', this.#secret).update(`${issued}\n${action}\n${identity}`).digest();
  }

  /** A token for a form that posts to `action` (a path within the dashboard). */
  issue(action: string, identity: string, now = Date.now()): string {
    const issued = now.toString(36);
    return `${issued}.${this.#mac(issued, action, identity).toString('base64url')}`;
  }

  /** Whether `token` was issued by this instance for `action` and `identity`, less than 12 hours ago. */
  valid(token: string | undefined, action: string, identity: string, now = Date.now()): boolean {
    const match = /^([0-9a-z]{1,12})\.([A-Za-z0-9_-]{43})$/.exec(token ?? '');
    if (!match) return false;
    const age = now - parseInt(match[1]!, 36);
    if (!(age >= -60_000 && age <= VALID_MS)) return false;
    return timingSafeEqual(Buffer.from(match[2]!, 'base64url'), this.#mac(match[1]!, action, identity));
  }
}

/** The hosts this request may come from: its Host, and X-Forwarded-Host only behind a trusted proxy. */
function ownHosts(req: IncomingMessage, trustProxy: boolean): string[] {
  const forwarded = trustProxy ? req.headers['x-forwarded-host'] : undefined;
  const hosts = [req.headers.host, ...(typeof forwarded === 'string' ? forwarded.split(',') : [])];
  return hosts.filter((h): h is string => typeof h === 'string' && h.length > 0).map((h) => h.trim().toLowerCase());
}

/**
 * Throws 403 unless the POST carries a valid token and, when the browser says, comes from this
 * host (`X-Forwarded-Host` counts as this host only with `trustProxy`).
 */
export function checkForgery(req: IncomingMessage, tokens: CsrfTokens, action: string, identity: string, token: string | undefined, trustProxy = false): void {
  const from = req.headers.origin ?? req.headers.referer;
  if (from !== undefined) {
    let host: string | undefined;
    try {
      host = new URL(from).host.toLowerCase();
    } catch {
      host = undefined;
    }
    if (!host || !ownHosts(req, trustProxy).includes(host)) {
      throw new HttpError(403, `Refused: this request was sent from another site (${from === 'null' ? 'an opaque origin' : 'origin ' + JSON.stringify(from.slice(0, 100))}).`);
    }
  }
  if (!tokens.valid(token, action, identity)) {
    throw new HttpError(403, 'Refused: the form\'s CSRF token is missing, expired or not for this action. Reload the page and try again.');
  }
}
