import type { S3Client } from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';
import type { Inventories, KeptTarballs } from '../ports.js';

/** Kept tarballs are content-addressed, so every workspace with the same plugin bytes shares one object. */
export const revisionKey = (sha256: string) => `revisions/${sha256}.tar.gz`;

/**
 * The revisions' tarballs in the staging bucket (SPEC §9). The bucket's lifecycle expires only
 * `staged/`; a kept tarball goes when no kept revision names it (the cleanup's job).
 */
export function s3KeptTarballs(s3: S3Client, bucket: string): KeptTarballs {
  return {
    locate: (sha256) => ({ bucket, key: revisionKey(sha256) }),
    async keep(staged, sha256) {
      const key = revisionKey(sha256);
      if (staged.bucket === bucket && staged.key === key) return;
      const { CopyObjectCommand } = await import('@aws-sdk/client-s3');
      // Copying again refreshes LastModified, which the cleanup reads as "just kept".
      await s3.send(new CopyObjectCommand({ Bucket: bucket, Key: key, CopySource: `${staged.bucket}/${encodeURI(staged.key)}` }));
    },
    async exists(sha256) {
      const { HeadObjectCommand } = await import('@aws-sdk/client-s3');
      try {
        await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: revisionKey(sha256) }));
        return true;
      } catch (err) {
        const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
        if (status === 404 || (err as Error).name === 'NotFound' || (err as Error).name === 'NoSuchKey') return false;
        throw err;
      }
    },
  };
}

/** Where a host uploads the inventory of one operation (SPEC §12); the bucket expires `inventories/` after a day. */
export const inventoryKey = (operationId: string) => `inventories/${operationId}.tar.gz`;

/** How long the host has to start its upload: the inventory itself runs first. */
const UPLOAD_URL_TTL_SECONDS = 900;

/** The hosts' inventories in the staging bucket, by operation: a presigned PUT for the host, then read back and discarded. */
export function s3Inventories(s3: S3Client, bucket: string): Inventories {
  return {
    async uploadUrl(operationId) {
      const [{ PutObjectCommand }, { getSignedUrl }] = await Promise.all([import('@aws-sdk/client-s3'), import('@aws-sdk/s3-request-presigner')]);
      return getSignedUrl(s3, new PutObjectCommand({ Bucket: bucket, Key: inventoryKey(operationId) }), { expiresIn: UPLOAD_URL_TTL_SECONDS });
    },
    async read(operationId) {
      const [{ GetObjectCommand }, { readInventory }] = await Promise.all([import('@aws-sdk/client-s3'), import('../../delivery/inventory.js')]);
      const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: inventoryKey(operationId) }));
      return readInventory(object.Body as Readable);
    },
    async discard(operationId) {
      const { DeleteObjectCommand } = await import('@aws-sdk/client-s3');
      await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: inventoryKey(operationId) }));
    },
  };
}
