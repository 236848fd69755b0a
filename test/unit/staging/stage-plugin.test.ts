import { Readable } from 'node:stream';
import { GetObjectCommand, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { createResolvers } from '../../../lambdas/plugins/source.js';
import { loadConfig } from '../../../lambdas/shared/config.js';
import { AppError } from '../../../lambdas/shared/errors.js';
import { stagePlugin } from '../../../lambdas/staging/stage-plugin.js';
import { ACC_GOOD_FILES, pluginEntries, tarGz } from '../../support/archives.js';

/**
 * The staging bucket under S3's faults (issue #27): the registry read succeeds, the upload of the
 * normalized tarball fails. What the Stage step and the download route get is a documented error
 * in our words, retried by the workflow when S3 says the trouble passes.
 */
const s3Mock = mockClient(S3Client);
const s3 = new S3Client({ region: 'us-east-1' });
const config = { ...loadConfig({}), stagingBucket: 'staging' };

function s3Error(name: string, status: number, message: string, fault: 'client' | 'server' = status >= 500 ? 'server' : 'client') {
  return new S3ServiceException({ name, $fault: fault, $metadata: { httpStatusCode: status }, message });
}

async function stageOnce(): Promise<AppError> {
  const err = await stagePlugin(
    { s3, resolvers: createResolvers({ s3, config }), config },
    { source: 'local://acc-good', expectedSha256: null, id: 'op-1' },
  ).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  return err as AppError;
}

beforeEach(async () => {
  s3Mock.reset();
  const archive = await tarGz(pluginEntries(ACC_GOOD_FILES));
  s3Mock.on(GetObjectCommand).callsFake(async () => ({ Body: Readable.from([archive]) }));
});

describe('staging when S3 fails the upload', () => {
  it.each([
    ['InternalError', 500, 'We encountered an internal error. Please try again.'],
    ['SlowDown', 503, 'Please reduce your request rate.'],
    ['ServiceUnavailable', 503, 'Service is unable to handle request.'],
  ])('turns a %s into the retried platform_unavailable, in its own words', async (name, status, message) => {
    s3Mock.on(PutObjectCommand).rejects(s3Error(name, status, message));

    const err = await stageOnce();

    expect(err).toMatchObject({ name: 'PlatformUnavailable', code: 'platform_unavailable', status: 503, transient: true, details: { awsError: name } });
    expect(err.message).not.toContain(message);
  });

  it('turns a dropped connection into the retried platform_unavailable', async () => {
    s3Mock.on(PutObjectCommand).rejects(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));

    const err = await stageOnce();

    expect(err).toMatchObject({ code: 'platform_unavailable', transient: true });
    expect(err.message).not.toContain('socket hang up');
  });

  it.each([
    ['AccessDenied', 403, 'Access Denied'],
    ['NoSuchBucket', 404, 'The specified bucket does not exist'],
  ])('fails a %s for good as delivery_failed, in its own words', async (name, status, message) => {
    s3Mock.on(PutObjectCommand).rejects(s3Error(name, status, message));

    const err = await stageOnce();

    expect(err).toMatchObject({ name: 'DeliveryFailed', code: 'delivery_failed', status: 502, transient: false, details: { awsError: name } });
    expect(err.message).not.toContain(message);
  });
});
