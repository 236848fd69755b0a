import type { S3Client } from '@aws-sdk/client-s3';

/**
 * A short-lived GET URL for a staged object; `ttlSeconds` is `config.presignTtlSeconds`, which config.ts keeps to SPEC's 300 s.
 * The presigner is imported on first use: a Lambda bundle carries it in its own chunk.
 */
export async function presignGet(s3: S3Client, bucket: string, key: string, ttlSeconds: number): Promise<string> {
  const [{ GetObjectCommand }, { getSignedUrl }] = await Promise.all([import('@aws-sdk/client-s3'), import('@aws-sdk/s3-request-presigner')]);
  return getSignedUrl(s3, new GetObjectCommand({ Bucket: bucket, Key: key }), { expiresIn: ttlSeconds });
}
