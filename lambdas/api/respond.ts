import * as z from '../shared/zod.js';
import { AppError, ERROR_STATUS, PlatformUnavailable } from '../shared/errors.js';
import { awsErrorName, isAwsError } from '../shared/aws-faults.js';
import type { Log } from '../shared/logger.js';
import { json, type ApiResponse } from './http.js';

/**
 * The one place errors become HTTP responses: `{error, code, ...details}` with the code's status.
 * An AWS error no use case mapped is the platform's trouble: 503 platform_unavailable in our words
 * (its name and text only in the log). Anything else unexpected is logged with its stack and
 * answered with a generic 500 body that never carries the raw error.
 */
export function errorResponse(err: unknown, log: Log): ApiResponse {
  if (!(err instanceof AppError) && isAwsError(err)) {
    log.warn('an AWS call failed', { awsError: awsErrorName(err), error: err.message });
    return errorResponse(new PlatformUnavailable('a service the platform depends on is unavailable; try again'), log);
  }
  if (err instanceof AppError) {
    // Context helps a caller fix a 4xx; a 5xx's details are for ops (they may hold host output).
    if (err.status >= 500) {
      log.warn('request failed', { code: err.code, error: err.message, details: err.details, cause: String(err.cause ?? '') });
      return json(err.status, { error: err.message, code: err.code });
    }
    const { allowed } = err.details;
    const headers: Record<string, string> = Array.isArray(allowed) ? { allow: allowed.join(', ') } : {};
    if (err.code === 'unauthorized') headers['www-authenticate'] = 'Bearer';
    if (typeof err.details.retryAfterSeconds === 'number') headers['retry-after'] = String(err.details.retryAfterSeconds);
    return json(err.status, { error: err.message, code: err.code, ...err.details }, headers);
  }
  if (err instanceof z.$ZodError) {
    return json(ERROR_STATUS.invalid_request, { error: describeZodError(err), code: 'invalid_request' });
  }
  log.error('unexpected error', err as Error);
  return json(ERROR_STATUS.internal_error, { error: 'internal error', code: 'internal_error' });
}

export function describeZodError(err: z.$ZodError): string {
  const first = err.issues[0];
  if (!first) return 'invalid request body';
  const where = first.path.length ? `${first.path.join('.')}: ` : '';
  return `invalid request body: ${where}${first.message}`;
}
