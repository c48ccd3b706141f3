import { DuctworkClient, type ClientOptions } from './client.js';

let current: DuctworkClient | undefined;

/**
 * The client `Pipeline.trigger` uses: the one set by {@link setDefaultClient} (a running engine
 * sets its own), else one created on first use from `DATABASE_URL`.
 */
export function defaultClient(): DuctworkClient {
  current ??= new DuctworkClient();
  return current;
}

/** Makes `Pipeline.trigger` use this client (or a new one built from options). */
export function setDefaultClient(client: DuctworkClient | ClientOptions | undefined): DuctworkClient | undefined {
  current = client === undefined || client instanceof DuctworkClient ? client : new DuctworkClient(client);
  return current;
}

/** The default client if one exists, without creating it. */
export function peekDefaultClient(): DuctworkClient | undefined {
  return current;
}
