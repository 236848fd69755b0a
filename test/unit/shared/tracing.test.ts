import { describe, expect, it } from 'vitest';
import { SFNClient } from '@aws-sdk/client-sfn';
import { captureClient, currentTraceHeader, traced, tracingEnabled } from '../../../lambdas/shared/tracing.js';

describe('tracing outside Lambda (the local stack, tests)', () => {
  it('is off, and steps and clients work as without it', async () => {
    expect(tracingEnabled({})).toBe(false);
    const client = new SFNClient({ region: 'us-east-1' });
    expect(await captureClient(client)).toBe(client);
    expect(await traced('Deliver', { operationId: 'op-1' }, async () => 'done')).toBe('done');
    await expect(traced('Deliver', { operationId: 'op-1' }, async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
  });

  it('is on in a Lambda unless POWERTOOLS_TRACE_ENABLED=false', () => {
    const lambda = { AWS_LAMBDA_FUNCTION_NAME: 'api', AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x' };
    expect(tracingEnabled(lambda)).toBe(true);
    expect(tracingEnabled({ ...lambda, POWERTOOLS_TRACE_ENABLED: 'false' })).toBe(false);
  });

  it("reads the invocation's trace header, and only a well-formed one", () => {
    expect(currentTraceHeader({ _X_AMZN_TRACE_ID: 'Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1' })).toBe(
      'Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1',
    );
    expect(currentTraceHeader({})).toBeUndefined();
    expect(currentTraceHeader({ _X_AMZN_TRACE_ID: 'garbage' })).toBeUndefined();
    expect(currentTraceHeader({ _X_AMZN_TRACE_ID: `Root=${'x'.repeat(300)}` })).toBeUndefined();
  });
});
