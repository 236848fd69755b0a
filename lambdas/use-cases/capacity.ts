import { TooManyOperations } from '../shared/errors.js';

/**
 * What `Retry-After` says when an org is at its cap: one typical operation's run (on AWS an install
 * or uninstall ends in about 2–8 s, two SSM round trips), after which a slot has most likely freed.
 * An estimate, not a promise: the client that retries early is refused again, nothing worse.
 */
export const CAP_RETRY_AFTER_SECONDS = 5;

/**
 * The refusal of a new operation while the org already has `max` in flight (429
 * too_many_operations, nothing recorded, nothing started). The count is taken in the statement
 * that records the operation (store/operations.ts createOperation); a soft cap all the same:
 * requests recorded at the same instant may pass it by as many as arrive together, which the
 * API's reserved concurrency bounds.
 */
export function orgAtCapacity(orgId: string, inFlight: number, max: number): TooManyOperations {
  return new TooManyOperations(`org "${orgId}" has ${inFlight} operations in flight (the limit is ${max}); retry after ${CAP_RETRY_AFTER_SECONDS} s`, {
    limit: max,
    inFlight,
    retryAfterSeconds: CAP_RETRY_AFTER_SECONDS,
  });
}
