import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import S3rver from 's3rver';

export interface LocalS3 {
  url: string;
  close(): Promise<void>;
}

/** S3 on a loopback port (s3rver), objects kept under `directory`; buckets created up front. */
export async function startLocalS3(opts: { directory: string; buckets: string[]; port?: number }): Promise<LocalS3> {
  mkdirSync(opts.directory, { recursive: true });
  const server = new S3rver({
    address: '127.0.0.1',
    port: opts.port ?? 0,
    silent: true,
    directory: opts.directory,
    allowMismatchedSignatures: true,
    configureBuckets: opts.buckets.map((name) => ({ name, configs: [] })),
  });
  const address = (await server.run()) as AddressInfo;
  return { url: `http://127.0.0.1:${address.port}`, close: () => server.close() };
}
