import { PassThrough, type Readable } from 'node:stream';
import { AppError, FetchFailed, FetchTimeout } from '../../shared/errors.js';

/** The time one fetch may take, body included (`PLUGIN_INSTALL_FETCH_TIMEOUT`). */
export interface Deadline {
  /** aborts when the time is up or the caller gives up */
  signal: AbortSignal;
  /** The documented error for whatever went wrong while fetching `what`; raw upstream text stays in `cause`. */
  failure(err: unknown, what: string): Error;
}

export function startDeadline(timeoutMs: number, parent?: AbortSignal): Deadline {
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = parent ? AbortSignal.any([parent, timeout]) : timeout;
  return {
    signal,
    failure(err, what) {
      if (err instanceof AppError) return err;
      if (parent?.aborted) return parent.reason instanceof Error ? parent.reason : new Error(`fetching ${what} was aborted`);
      if (timeout.aborted) return new FetchTimeout(`fetching ${what} took longer than ${timeoutMs} ms`, { timeoutMs });
      return new FetchFailed(`fetching ${what} failed`, {}, { cause: err });
    },
  };
}

/**
 * The body a resolver hands out: it fails with the documented error (not the HTTP client's)
 * and as soon as the deadline passes, however the client reacts to the abort; destroying it
 * releases the connection underneath.
 */
export function guardBody(body: Readable, deadline: Deadline, what: string): Readable {
  const guarded = new PassThrough();
  const onAbort = () => guarded.destroy(deadline.failure(deadline.signal.reason, what));
  deadline.signal.addEventListener('abort', onAbort, { once: true });
  body.on('error', (err) => guarded.destroy(deadline.failure(err, what)));
  guarded.on('close', () => {
    deadline.signal.removeEventListener('abort', onAbort);
    body.destroy();
  });
  body.pipe(guarded);
  if (deadline.signal.aborted) onAbort();
  return guarded;
}
