import {
  GetSecretValueCommand,
  InternalServiceError,
  ResourceNotFoundException,
  SecretsManagerClient,
  SecretsManagerServiceException,
} from '@aws-sdk/client-secrets-manager';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { handler as apiHandler } from '../../../lambdas/handlers/api.js';
import { getRuntime, resetRuntime } from '../../../lambdas/runtime.js';

/** A Lambda reads its secrets from Secrets Manager at start-up; what it meets there is ours to say, never AWS's text. */
const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:molecule-db-AbCdEf';
const secrets = mockClient(SecretsManagerClient);

afterEach(async () => {
  secrets.reset();
  vi.unstubAllEnvs();
  await resetRuntime();
});
afterAll(() => secrets.restore());

function lambdaEnvironment() {
  vi.stubEnv('DATABASE_URL', undefined);
  vi.stubEnv('DATABASE_SECRET_ARN', SECRET_ARN);
  vi.stubEnv('AWS_REGION', 'eu-west-1');
}

const faults = [
  [
    'InternalServiceError',
    new InternalServiceError({ $metadata: { httpStatusCode: 500 }, message: `An error occurred on the server side for ${SECRET_ARN}` }),
    true,
  ],
  [
    'ThrottlingException',
    new SecretsManagerServiceException({ name: 'ThrottlingException', $fault: 'client', $metadata: { httpStatusCode: 400 }, message: 'Rate exceeded' }),
    true,
  ],
  [
    'ResourceNotFoundException',
    new ResourceNotFoundException({ $metadata: { httpStatusCode: 400 }, message: `Secrets Manager can't find ${SECRET_ARN}` }),
    false,
  ],
] as const;

describe('start-up when Secrets Manager fails', () => {
  it.each(faults)('is platform_unavailable on a %s, naming it but not echoing it', async (name, err) => {
    secrets.on(GetSecretValueCommand).rejects(err);
    lambdaEnvironment();

    const failure = await getRuntime().catch((e: unknown) => e);

    expect(failure).toMatchObject({ name: 'PlatformUnavailable', code: 'platform_unavailable', status: 503, details: { awsError: name } });
    expect((failure as Error).message).not.toContain(err.message);
  });

  it.each(faults)('answers an API request 503 platform_unavailable on a %s, without its text', async (_name, err) => {
    secrets.on(GetSecretValueCommand).rejects(err);
    lambdaEnvironment();

    const response = await apiHandler({ rawPath: '/workspaces/ws-1/plugins', requestContext: { http: { method: 'GET' } } } as APIGatewayProxyEventV2);

    expect(response.statusCode).toBe(503);
    expect(JSON.parse(String(response.body))).toMatchObject({ code: 'platform_unavailable' });
    expect(String(response.body)).not.toContain(err.message);
  });

  it('is platform_unavailable when the secret has no string value', async () => {
    secrets.on(GetSecretValueCommand).resolves({ SecretBinary: new Uint8Array([1]) });
    lambdaEnvironment();

    await expect(getRuntime()).rejects.toMatchObject({ code: 'platform_unavailable' });
  });
});
