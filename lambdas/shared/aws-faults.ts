/**
 * What the AWS SDK throws carries the service's own error name (`InternalError`, `NotFound`,
 * `ThrottlingException`) and message: neither may pass for ours or reach a client (SPEC §4), so
 * every call site turns it into a documented error, naming it at most in `details.awsError`.
 */
import { isThrottlingError, isTransientError } from '@smithy/service-error-classification';
import { AppError, AwsThrottled, DeliveryFailed, PlatformUnavailable } from './errors.js';

type SdkError = Parameters<typeof isThrottlingError>[0];

/**
 * Throttling, a limit, a 5xx or a dropped connection, as the SDK itself classifies them: trouble
 * that passes, worth retrying once the client's own retries are spent.
 */
export function isTransientAwsError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const sdkError = err as SdkError;
  return isThrottlingError(sdkError) || isTransientError(sdkError);
}

/** An error a service answered (it carries the response's `$metadata`), or trouble on the way to it. */
export function isAwsError(err: unknown): err is Error {
  return err instanceof Error && (typeof (err as { $metadata?: unknown }).$metadata === 'object' || isTransientAwsError(err));
}

/** The AWS error's name, for `details.awsError` and the logs; never its message. */
export function awsErrorName(err: unknown): string | undefined {
  return err instanceof Error ? err.name : undefined;
}

/**
 * One of our documented errors for whatever a call threw, in our words: ours as it is; transient
 * AWS trouble (throttling, a 5xx, a dropped connection) the retried PlatformUnavailable; anything
 * else DeliveryFailed. The original stays the `cause`, an AWS error is named in `awsError`.
 */
export function asOwnError(err: unknown, messages: { transient: string; failed: string }): AppError {
  if (err instanceof AppError) return err;
  const details = isAwsError(err) ? { awsError: awsErrorName(err) } : {};
  if (isTransientAwsError(err)) return new PlatformUnavailable(messages.transient, details, { cause: err });
  return new DeliveryFailed(messages.failed, details, { cause: err });
}

/**
 * AWS throttled (or briefly failed) a call that reaches the workspace: AwsThrottled, which the
 * workflow retries for minutes (a burst) before the workspace counts as unreachable.
 */
export function awsThrottled(err: unknown, call: string, details: Record<string, unknown>): AwsThrottled {
  return new AwsThrottled(`AWS is throttling or briefly failing ${call}; it will be retried`, { ...details, awsError: awsErrorName(err) }, { cause: err });
}
