import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';

/** A short-lived GET URL for a staged object; `ttlSeconds` is `config.presignTtlSeconds`, which config.ts keeps to SPEC's 300 s. */
export function presignGet(s3: S3Client, bucket: string, key: string, ttlSeconds: number): Promise<string> {
  return getSignedUrl(s3, new GetObjectCommand({ Bucket: bucket, Key: key }), { expiresIn: ttlSeconds });
}
