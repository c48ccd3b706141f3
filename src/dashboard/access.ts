/**
 * Who may use the dashboard. With an auth hook or basic-auth credentials, every request must pass
 * them; with neither, only requests made on this machine are answered (loopback on both ends of
 * the socket, and a loopback name in the Host header), so a dashboard mounted in a server that
 * listens on a public interface stays closed until its owner configures authentication, and a
 * page on another site whose name was rebound to 127.0.0.1 (DNS rebinding) is refused: its
 * requests carry that site's name as Host.
 *
 * `X-Forwarded-For` / `X-Forwarded-Host` are honoured only with `trustProxy`: without it a
 * forwarded request is refused in loopback mode (a local proxy may be relaying anyone).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { HttpError } from './responses.js';

/** Decides whether a request may use the dashboard (may be async; a throw refuses). */
export type DashboardAuthHook = (req: IncomingMessage) => boolean | Promise<boolean>;

/** Credentials for HTTP basic authentication. */
export interface BasicAuthCredentials {
  username: string;
  password: string;
}

/** How requests are authenticated; neither set means loopback only. */
export interface AccessRules {
  auth?: DashboardAuthHook | undefined;
  basicAuth?: BasicAuthCredentials | undefined;
  /** Believe `X-Forwarded-For` and `X-Forwarded-Host` (set by a proxy in front of the dashboard). */
  trustProxy?: boolean | undefined;
}

/** The Host names a loopback-only dashboard answers to, with or without a port. */
const LOOPBACK_HOST = /^(localhost|127\.0\.0\.1|\[::1\])(:\d{1,5})?$/i;

/** Whether a Host header names this machine's loopback interface (`localhost`, `127.0.0.1`, `[::1]`, with the port). */
export function isLoopbackHost(host: string | undefined): boolean {
  return typeof host === 'string' && LOOPBACK_HOST.test(host.trim());
}

/** The last value of a comma-separated forwarding header: the one the proxy in front of us added. */
function lastForwarded(value: string | string[] | undefined): string | undefined {
  const text = Array.isArray(value) ? value.join(',') : value;
  const last = text?.split(',').pop()?.trim();
  return last === '' ? undefined : last;
}

/**
 * The request as the browser made it: its client address and Host. Behind a trusted proxy these
 * come from `X-Forwarded-For` and `X-Forwarded-Host`; otherwise from the socket and `Host`.
 */
export function requestOrigin(req: IncomingMessage, trustProxy: boolean | undefined): { address: string | undefined; host: string | undefined } {
  if (trustProxy) {
    return {
      address: lastForwarded(req.headers['x-forwarded-for']) ?? req.socket.remoteAddress,
      host: lastForwarded(req.headers['x-forwarded-host']) ?? req.headers.host,
    };
  }
  return { address: req.socket.remoteAddress, host: req.headers.host };
}

/** Whether an address is on the loopback interface (127.0.0.0/8, ::1, IPv4-mapped 127.x). */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (!address) return false;
  const plain = address.replace(/^\[|\]$/g, '').replace(/^::ffff:/i, '');
  return plain === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(plain);
}

/** Whether any authentication is configured. */
export function hasAuthentication(rules: AccessRules): boolean {
  return rules.auth !== undefined || rules.basicAuth !== undefined;
}

/** Checks the basic-auth shape of credentials given as options (not of a request). */
export function assertCredentials(credentials: BasicAuthCredentials | undefined, where: string): void {
  if (credentials === undefined) return;
  const ok = typeof credentials.username === 'string' && typeof credentials.password === 'string' &&
    credentials.username.length > 0 && credentials.password.length > 0 && !credentials.username.includes(':');
  if (!ok) throw new TypeError(`${where}: basicAuth needs a non-empty username (without ":") and a non-empty password.`);
}

const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest();

/** Compares two secrets in constant time (hashing first makes their lengths equal). */
function sameSecret(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

/**
 * Lets the request through, returning who it is (the basic-auth user, or '' when none), or
 * throws 401/403 with a message that says what to configure.
 */
export async function admit(req: IncomingMessage, rules: AccessRules): Promise<string> {
  if (!hasAuthentication(rules)) {
    const origin = requestOrigin(req, rules.trustProxy);
    const local = isLoopbackAddress(req.socket.localAddress) && isLoopbackAddress(origin.address);
    const forwarded = !rules.trustProxy && (req.headers['x-forwarded-for'] !== undefined || req.headers['x-forwarded-host'] !== undefined || req.headers.forwarded !== undefined);
    if (!local || forwarded) {
      throw new HttpError(403, 'This Ductwork dashboard has no authentication configured, so it only answers requests made on this machine. ' +
        'Pass `auth` (a function) or `basicAuth` ({ username, password }) to createDashboard, or set dashboard.username and dashboard.password for `ductwork dashboard`' +
        (forwarded ? '; behind a proxy you trust, also pass `trustProxy: true` (`ductwork dashboard --trust-proxy`).' : '.'));
    }
    if (!isLoopbackHost(origin.host)) {
      throw new HttpError(421, `This Ductwork dashboard has no authentication configured, so it only answers to a loopback Host (localhost, 127.0.0.1 or [::1]), ` +
        `not ${JSON.stringify(String(origin.host ?? '').slice(0, 100))}: a page elsewhere may have rebound its name to this machine. Open it as http://127.0.0.1:<port>/ or configure authentication.`);
    }
    return '';
  }
  let identity = '';
  if (rules.basicAuth) {
    const challenge = { 'www-authenticate': 'Basic realm="Ductwork dashboard", charset="UTF-8"' };
    const match = /^Basic ([A-Za-z0-9+/=]{1,1000})$/.exec(req.headers.authorization ?? '');
    const decoded = match ? Buffer.from(match[1]!, 'base64').toString('utf8') : '';
    const colon = decoded.indexOf(':');
    const user = colon < 0 ? '' : decoded.slice(0, colon);
    const password = colon < 0 ? '' : decoded.slice(colon + 1);
    // Both compared every time, so the answer takes as long for a wrong user as for a wrong password.
    const userOk = sameSecret(user, rules.basicAuth.username);
    const passwordOk = sameSecret(password, rules.basicAuth.password);
    if (!match || !userOk || !passwordOk) throw new HttpError(401, 'Authentication required: wrong or missing username and password.', challenge);
    identity = user;
  }
  if (rules.auth) {
    let allowed = false;
    try {
      allowed = (await rules.auth(req)) === true;
    } catch {
      allowed = false;
    }
    if (!allowed) throw new HttpError(401, 'Not authorized: the dashboard\'s auth hook refused this request.');
  }
  return identity;
}
