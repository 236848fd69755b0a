import { S3ServiceException } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { failureDetails, outputTail, redact, stepTransport } from '../../../lambdas/workflow/steps/explain.js';
import { AwsThrottled, WorkspaceUnreachable } from '../../../lambdas/shared/errors.js';

describe('redact', () => {
  it.each([
    ['https://bucket.s3.amazonaws.com/k.tar.gz?X-Amz-Signature=0123abcd&X-Amz-Security-Token=FwoGZX', 'X-Amz'],
    ['Authorization: Bearer mpd_o_abcdefgh_0123456789', 'mpd_o_'],
    ['curl -H "Authorization: Basic dXNlcjpwYXNz"', 'dXNlcjpwYXNz'],
    ['export GITHUB_TOKEN=ghp_16C7e42F292c6912E7710c838347Ae178B4a', 'ghp_16C7'],
    ['password: hunter2', 'hunter2'],
    ['"api_key": "k-12345"', 'k-12345'],
    ['key id AKIAIOSFODNN7EXAMPLE used', 'AKIAIOSFODNN7EXAMPLE'],
    ['jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl', 'eyJhbGciOiJIUzI1NiJ9'],
    ['secret blob wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY0123456789', 'wJalrXUtnFEMI'],
  ])('removes the secret from %s', (line, secret) => {
    const cleaned = redact(line);
    expect(cleaned).not.toContain(secret);
    expect(cleaned).toContain('<redacted>');
  });

  it('leaves ordinary output alone', () => {
    const line = 'tar: plugins/.staging/demo.20261201T000000000Z: Cannot open: Permission denied';
    expect(redact(line)).toBe(line);
  });
});

describe('outputTail', () => {
  it('keeps the last 20 non-empty lines, each at most 200 characters', () => {
    const text = [...Array.from({ length: 30 }, (_, i) => `line ${i}`), '', `${'y'.repeat(500)}`].join('\n');
    const tail = outputTail(text);
    expect(tail).toHaveLength(20);
    expect(tail[0]).toBe('line 11');
    expect(tail.at(-1)).toHaveLength(200);
    expect(tail.at(-1)!.endsWith('…')).toBe(true);
  });
});

describe('failureDetails', () => {
  it('gives the documented code and message, the error name and how the host was reached', () => {
    const err = new WorkspaceUnreachable('the workspace instance is not running (it is stopped)', { instanceId: 'i-0123456789abcdef0', transport: 'eic' });
    expect(failureDetails(err)).toEqual({
      errorName: 'WorkspaceUnreachable',
      error: { code: 'workspace_unreachable', message: 'the workspace instance is not running (it is stopped)' },
      transport: 'eic-direct',
    });
    expect(failureDetails(new AwsThrottled('throttled', { transport: 'ssm', commandId: 'c-1' }))).toMatchObject({
      errorName: 'AwsThrottled',
      error: { code: 'workspace_unreachable' },
      transport: 'ssm',
      commandId: 'c-1',
    });
  });

  it('never takes an AWS error for ours, though S3 names its own fault InternalError', () => {
    const s3Fault = new S3ServiceException({
      name: 'InternalError',
      $fault: 'server',
      $metadata: { httpStatusCode: 500 },
      message: 'We encountered an internal error. Please try again.',
    });
    const details = failureDetails(s3Fault);
    expect(details.error).toEqual({ code: 'delivery_failed', message: 'the operation failed' });
    expect(details.errorName).toBe('InternalError');
  });

  it('never echoes an error we did not throw on purpose', () => {
    const details = failureDetails(new TypeError("Cannot read properties of undefined (reading 'x') at /var/task/index.js"));
    expect(details.error).toEqual({ code: 'delivery_failed', message: 'the operation failed' });
    expect(details.errorName).toBe('TypeError');
  });
});

describe('stepTransport', () => {
  it('maps the delivery layer names to the API names', () => {
    expect(['ssm', 'eic', 'eic-direct', 'eic-endpoint', 'auto', undefined].map(stepTransport)).toEqual([
      'ssm',
      'eic-direct',
      'eic-direct',
      'eic-endpoint',
      undefined,
      undefined,
    ]);
  });
});
