import { PlatformUnavailable } from './errors.js';

/**
 * The platform database briefly out of reach (an RDS failover, a dropped connection): how to tell
 * it from a bad query, and how a write a step depends on rides it out. Shared by the store, which
 * turns such an error into PlatformUnavailable, and the steps, which retry their writes through it.
 */

const UNAVAILABLE_SQLSTATE = /^(08|53|57P|58)/;
const UNAVAILABLE_ERRNO = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN']);

/** True when the error means "the database is not reachable right now" rather than a bad query. */
export function isUnavailable(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  if (typeof e?.code === 'string' && (UNAVAILABLE_ERRNO.has(e.code) || UNAVAILABLE_SQLSTATE.test(e.code))) return true;
  return /timeout|terminated|connect/i.test(e?.message ?? '') && !e?.code;
}

export interface RetryOptions {
  /** Time from the first attempt after which no new attempt starts; default 60 s, an RDS failover. */
  budgetMs?: number;
  /** The first wait is at most this; each further one at most doubles, up to `maxDelayMs`. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  /** in [0, 1): full jitter, so writers cut off together do not all come back together */
  random?: () => number;
  /** told before each wait, e.g. to log the outage */
  onRetry?: (retry: { attempt: number; delayMs: number; error: unknown }) => void;
}

export const DB_RETRY_BUDGET_MS = 60_000;

const sleepFor = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Unavailable, seen directly or through the PlatformUnavailable that `query`/`transaction` made of it. */
function unavailableCause(err: unknown): boolean {
  return isUnavailable(err instanceof PlatformUnavailable ? err.cause : err);
}

/**
 * Runs a database write a step depends on until it gets through an outage such as an RDS failover:
 * retried only while the database is unreachable (`isUnavailable`), with exponential backoff and
 * full jitter, until `budgetMs` has passed; then `PlatformUnavailable`, which the workflow retries
 * or fails with its documented code. Any other error is thrown at once. A write cut off after its
 * commit runs again, so give it only idempotent writes.
 */
export async function retryUnavailable<T>(work: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const { budgetMs = DB_RETRY_BUDGET_MS, baseDelayMs = 200, maxDelayMs = 10_000, sleep = sleepFor, now = Date.now, random = Math.random, onRetry } = options;
  const startedAt = now();
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (err) {
      if (!unavailableCause(err)) throw err;
      const remaining = startedAt + budgetMs - now();
      if (remaining <= 0) {
        throw new PlatformUnavailable('the platform database is unavailable', {}, { cause: err instanceof PlatformUnavailable ? err.cause : err });
      }
      const delayMs = Math.min(remaining, random() * Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1)));
      onRetry?.({ attempt, delayMs, error: err });
      await sleep(delayMs);
    }
  }
}
