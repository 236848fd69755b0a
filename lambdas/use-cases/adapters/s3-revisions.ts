import type { S3Client } from '@aws-sdk/client-s3';
import type { KeptTarballStore } from '../ports.js';

const keyOf = (sha256: string) => `revisions/${sha256}.tar.gz`;

/** The revisions' tarballs in the staging bucket, as the cleanup prunes them. */
export function s3KeptTarballStore(s3: S3Client, bucket: string): KeptTarballStore {
  return {
    async lastModified(sha256) {
      const { HeadObjectCommand } = await import('@aws-sdk/client-s3');
      try {
        return (await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: keyOf(sha256) }))).LastModified ?? null;
      } catch (err) {
        if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return null;
        throw err;
      }
    },
    async delete(sha256s) {
      if (sha256s.length === 0) return;
      const { DeleteObjectsCommand } = await import('@aws-sdk/client-s3');
      await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: sha256s.map((sha256) => ({ Key: keyOf(sha256) })), Quiet: true } }));
    },
  };
}
