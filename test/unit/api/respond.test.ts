import { S3ServiceException } from '@aws-sdk/client-s3';
import { InternalServiceError as SecretsManagerInternalServiceError } from '@aws-sdk/client-secrets-manager';
import { SFNServiceException } from '@aws-sdk/client-sfn';
import { describe, expect, it } from 'vitest';
import * as z from '../../../lambdas/shared/zod.js';
import { errorResponse } from '../../../lambdas/api/respond.js';
import { ERROR_STATUS, errorFromStepFailure, InvalidSource, PluginNotAllowed, PluginTooLarge, Unauthorized } from '../../../lambdas/shared/errors.js';
import { logger } from '../../../lambdas/shared/logger.js';

describe('error responses', () => {
  it('maps a documented error to its status with code, message and context', () => {
    const res = errorResponse(new InvalidSource('unknown source scheme "ftp"', { available_schemes: ['github', 'local'] }), logger);
    expect(res.statusCode).toBe(400);
    expect(JSON.parse(res.body)).toEqual({ error: 'unknown source scheme "ftp"', code: 'invalid_source', available_schemes: ['github', 'local'] });
  });

  it('tells a client without valid credentials which scheme to use', () => {
    const res = errorResponse(new Unauthorized('missing token'), logger);
    expect(res).toMatchObject({ statusCode: 401, headers: { 'www-authenticate': 'Bearer' } });
  });

  it('never echoes an unexpected error: generic 500 body without message or stack', () => {
    const res = errorResponse(new Error('connect ECONNREFUSED 10.0.0.5:5432 password=hunter2'), logger);
    expect(res.statusCode).toBe(500);
    expect(res.body).not.toContain('hunter2');
    expect(res.body).not.toContain('ECONNREFUSED');
    expect(JSON.parse(res.body).code).toBe('internal_error');
  });

  it.each([
    [
      'S3',
      new S3ServiceException({
        name: 'InternalError',
        $fault: 'server',
        $metadata: { httpStatusCode: 500 },
        message: 'We encountered an internal error. Please try again.',
      }),
    ],
    [
      'S3',
      new S3ServiceException({ name: 'AccessDenied', $fault: 'client', $metadata: { httpStatusCode: 403 }, message: 'Access Denied for arn:aws:s3:::staging' }),
    ],
    [
      'Step Functions',
      new SFNServiceException({
        name: 'ThrottlingException',
        $fault: 'client',
        $metadata: { httpStatusCode: 400 },
        message: 'Rate exceeded for arn:aws:states:eu-west-1:123456789012:stateMachine:m',
      }),
    ],
    [
      'Secrets Manager',
      new SecretsManagerInternalServiceError({
        $metadata: { httpStatusCode: 500 },
        message: 'An error occurred on the server side for secret arn:aws:secretsmanager:x',
      }),
    ],
  ])('answers an AWS error from %s that no route mapped as 503 platform_unavailable, without its text', (_service, err) => {
    const res = errorResponse(err, logger);
    expect(res.statusCode).toBe(503);
    expect(JSON.parse(res.body)).toEqual({ error: expect.any(String), code: 'platform_unavailable' });
    expect(res.body).not.toContain(err.message);
    expect(res.body).not.toContain(err.name);
  });

  it('turns a schema failure into 400 invalid_request', () => {
    const parsed = z.object({ source: z.string() }).safeParse({});
    const res = errorResponse(parsed.error, logger);
    expect(res.statusCode).toBe(400);
    expect(JSON.parse(res.body)).toEqual({
      code: 'invalid_request',
      error: 'invalid request body: source: Invalid input: expected string, received undefined',
    });
  });

  it('uses the SPEC status for every failure of a running operation', () => {
    expect(ERROR_STATUS).toMatchObject({
      source_not_found: 404,
      fetch_failed: 502,
      fetch_timeout: 504,
      plugin_too_large: 413,
      invalid_archive: 422,
      manifest_invalid: 422,
      integrity_mismatch: 422,
      plugin_not_allowed: 403,
      workspace_unreachable: 503,
      delivery_failed: 502,
    });
  });
});

describe('errors reported by a failed workflow step', () => {
  it('are rebuilt from the Task error name and the message in its Cause', () => {
    const thrown = new PluginNotAllowed('plugin "x" is not in the org allowlist');
    const cause = JSON.stringify({ errorType: thrown.name, errorMessage: thrown.message });
    expect(errorFromStepFailure({ Error: thrown.name, Cause: cause })).toEqual({
      code: 'plugin_not_allowed',
      message: 'plugin "x" is not in the org allowlist',
      httpStatus: 403,
    });
    expect(errorFromStepFailure({ Error: new PluginTooLarge('').name, Cause: 'too big' }).httpStatus).toBe(413);
  });

  it('hide crashes and timeouts behind a generic delivery failure', () => {
    const record = errorFromStepFailure({ Error: 'Runtime.ExitError', Cause: 'segfault at 0xdeadbeef' });
    expect(record).toEqual({ code: 'delivery_failed', message: 'the operation failed', httpStatus: 502 });
    expect(errorFromStepFailure({ Error: 'States.Timeout' }).message).toBe('the operation timed out');
  });
});

describe('server-side failures', () => {
  it('keep their details (such as host output) out of the response body', async () => {
    const { DeliveryFailed } = await import('../../../lambdas/shared/errors.js');
    const res = errorResponse(new DeliveryFailed('the workspace could not unpack the plugin archive', { outputTail: 'tar: secret/path: Cannot open' }), logger);
    expect(res.statusCode).toBe(502);
    expect(JSON.parse(res.body)).toEqual({ error: 'the workspace could not unpack the plugin archive', code: 'delivery_failed' });
  });
});
