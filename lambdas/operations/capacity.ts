import { TooManyOperations } from '../shared/errors.js';
import type { InFlightStore } from './ports.js';

/**
 * What `Retry-After` says when an org is at its cap: one typical operation's run (on AWS an install
 * or uninstall ends in about 2–8 s, two SSM round trips), after which a slot has most likely freed.
 * An estimate, not a promise: the client that retries early is refused again, nothing worse.
 */
export const CAP_RETRY_AFTER_SECONDS = 5;

/**
 * Refuses a new operation while the org already has `max` in flight (429 too_many_operations,
 * nothing recorded, nothing started). A soft cap: requests accepted at the same instant may pass
 * it by as many as arrive together, which the API's reserved concurrency bounds.
 */
export async function requireOrgCapacity(inFlight: InFlightStore, orgId: string, max: number): Promise<void> {
  const running = await inFlight.count(orgId);
  if (running < max) return;
  throw new TooManyOperations(`org "${orgId}" has ${running} operations in flight (the limit is ${max}); retry after ${CAP_RETRY_AFTER_SECONDS} s`, {
    limit: max,
    inFlight: running,
    retryAfterSeconds: CAP_RETRY_AFTER_SECONDS,
  });
}
