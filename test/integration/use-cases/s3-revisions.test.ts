import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalS3 } from '../../../local/s3.js';
import { s3KeptTarballStore } from '../../../lambdas/use-cases/adapters/s3-revisions.js';

/** The cleanup's view of the kept tarballs, against the local S3 (s3rver): what it lists and deletes. */
let dir = '';
let s3: Awaited<ReturnType<typeof startLocalS3>>;
let client: S3Client;
const sha = (c: string) => c.repeat(64);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'revisions-s3-'));
  s3 = await startLocalS3({ directory: dir, buckets: ['staging'] });
  client = new S3Client({
    region: 'us-east-1',
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    endpoint: s3.url,
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
  });
  for (const key of [
    `revisions/${sha('a')}.tar.gz`,
    `revisions/${sha('b')}.tar.gz`,
    `revisions/${sha('c')}.tar.gz`,
    'revisions/not-a-tarball',
    `staged/op/${sha('d')}.tar.gz`,
  ]) {
    await client.send(new PutObjectCommand({ Bucket: 'staging', Key: key, Body: 'x' }));
  }
});

afterAll(async () => {
  client.destroy();
  await s3.close();
  await rm(dir, { recursive: true, force: true });
});

describe('the revision tarballs in S3, as the cleanup prunes them', () => {
  const store = () => s3KeptTarballStore(client, 'staging');

  it('says when a tarball was last written, and null when it is not there', async () => {
    const written = await store().lastModified(sha('a'));
    expect(written).toBeInstanceOf(Date);
    expect(Math.abs(Date.now() - (written as Date).getTime())).toBeLessThan(10 * 60_000);
    expect(await store().lastModified(sha('e'))).toBeNull();
  });

  it('deletes the ones named and leaves the rest, staged objects included', async () => {
    await store().delete([sha('b'), sha('e')]);
    expect(await store().lastModified(sha('b'))).toBeNull();
    expect(await store().lastModified(sha('a'))).toBeInstanceOf(Date);
    expect(await store().lastModified(sha('c'))).toBeInstanceOf(Date);
    await store().delete([]);
  });
});
