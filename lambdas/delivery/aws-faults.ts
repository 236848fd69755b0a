import { isThrottlingError, isTransientError } from '@smithy/service-error-classification';
import { AwsThrottled } from '../shared/errors.js';

type SdkError = Parameters<typeof isThrottlingError>[0];

/**
 * Throttling, a limit, a 5xx or a dropped connection, as the SDK itself classifies them: trouble
 * that passes. Still there after the client's own retries, it is AwsThrottled, which the workflow
 * retries for minutes (a burst) before the workspace counts as unreachable.
 */
export function isTransientAwsError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const sdkError = err as SdkError;
  return isThrottlingError(sdkError) || isTransientError(sdkError);
}

export function awsThrottled(err: unknown, call: string, details: Record<string, unknown>): AwsThrottled {
  return new AwsThrottled(`AWS is throttling or briefly failing ${call}; it will be retried`, { ...details, awsError: (err as Error).name }, { cause: err });
}
