/**
 * How long to wait before retrying a 429 (or another retryable answer), shared by both clients.
 * `Retry-After` comes as delta-seconds or as an HTTP-date (RFC 9110 §10.2.3); both are honoured.
 */

/** The milliseconds a `Retry-After` value asks for, or undefined when it is absent or unreadable. */
export function retryAfterMs(header: string | null | undefined, nowMs: number): number | undefined {
  const value = header?.trim();
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value)) return Math.ceil(Number(value)) * 1000;
  // An HTTP-date names its weekday and month; Date.parse alone would take "-3" for a year.
  const at = /^[a-z]{3},/i.test(value) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowMs);
}

export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
  /** ±fraction of the exponential step, so clients that failed together do not retry together. */
  jitter: number;
}

/** The wait before retry number `attempt` (1-based): what the server asked for, else exponential with jitter; capped either way. */
export function retryDelayMs(
  attempt: number,
  retryAfter: string | null | undefined,
  policy: BackoffPolicy,
  deps: { now: () => number; random: () => number },
): number {
  const asked = retryAfterMs(retryAfter, deps.now());
  if (asked !== undefined) return Math.min(asked, policy.maxMs);
  const step = policy.baseMs * 2 ** (attempt - 1);
  const jittered = step + step * policy.jitter * (deps.random() * 2 - 1);
  return Math.min(Math.max(0, jittered), policy.maxMs);
}
