import { describe, expect, it } from 'vitest';
import * as errors from '../../../lambdas/shared/errors.js';
import { AppError, ERROR_DECLARATIONS, ERROR_STATUS, errorFromStepFailure, errorNamesRetried, TRANSIENT_ERROR_NAMES } from '../../../lambdas/shared/errors.js';

type ErrorClass = new (message: string) => AppError;

/** Every error class the module exports, by export name. */
const exportedClasses = Object.entries(errors).filter(
  (entry): entry is [string, ErrorClass] => typeof entry[1] === 'function' && entry[1].prototype instanceof AppError,
);
const declarations = Object.entries(ERROR_DECLARATIONS);

describe('the one declaration of the documented error codes', () => {
  it('has exactly one exported class per declared name, and one final name per code', () => {
    expect(exportedClasses.map(([name]) => name).sort()).toEqual(declarations.map(([name]) => name).sort());
    const codes = declarations.filter(([name]) => name !== 'AwsThrottled').map(([, d]) => d.code);
    expect(new Set(codes).size).toBe(codes.length);
    // Throttling that outlasts its retries means the workspace cannot be reached now.
    expect(ERROR_DECLARATIONS.AwsThrottled.code).toBe(ERROR_DECLARATIONS.WorkspaceUnreachable.code);
  });

  it('derives the status map from it', () => {
    expect(Object.keys(ERROR_STATUS).sort()).toEqual([...new Set(declarations.map(([, d]) => d.code))].sort());
    for (const [, d] of declarations) expect(ERROR_STATUS[d.code], d.code).toBe(d.status);
  });

  it('derives the retried names from it: transient AWS or database trouble with backoff, a busy workspace waits for the lease', () => {
    expect(errorNamesRetried('backoff')).toEqual(['FetchFailed', 'PlatformUnavailable']);
    expect(errorNamesRetried('throttle')).toEqual(['AwsThrottled']);
    expect(errorNamesRetried('lease')).toEqual(['WorkspaceBusy']);
    expect([...TRANSIENT_ERROR_NAMES].sort()).toEqual(['AwsThrottled', 'FetchFailed', 'PlatformUnavailable', 'WorkspaceBusy']);
  });

  describe.each(exportedClasses)('%s', (exportName, ErrorClass) => {
    const thrown = new ErrorClass(`a ${exportName} happened`);
    const declared = ERROR_DECLARATIONS[exportName as keyof typeof ERROR_DECLARATIONS];

    it('carries its declared name, code, status and retry', () => {
      expect(thrown).toBeInstanceOf(AppError);
      expect(thrown.name).toBe(exportName);
      expect({ code: thrown.code, status: thrown.status }).toEqual({ code: declared.code, status: declared.status });
      expect(thrown.transient).toBe((TRANSIENT_ERROR_NAMES as readonly string[]).includes(exportName));
    });

    it('round-trips a step failure to the same code, status and message', () => {
      // What the Lambda runtime reports to Step Functions for an uncaught error.
      const failure = { Error: thrown.name, Cause: JSON.stringify({ errorType: thrown.name, errorMessage: thrown.message, trace: [] }) };
      expect(errorFromStepFailure(failure)).toEqual({ code: thrown.code, message: thrown.message, httpStatus: thrown.status });
    });
  });
});

describe('a failed step that reports the name of an AWS error', () => {
  it('is not taken for one of ours: S3 and EC2 answer a fault of their own as InternalError, whose text is never echoed', () => {
    const message = 'We encountered an internal error. Please try again.';
    const failure = { Error: 'InternalError', Cause: JSON.stringify({ errorType: 'InternalError', errorMessage: message, trace: [] }) };
    expect(errorFromStepFailure(failure)).toEqual({ code: 'delivery_failed', message: 'the operation failed', httpStatus: 502 });
  });
});
