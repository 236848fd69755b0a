import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listRegistry } from '../../../lambdas/plugins/resolvers/local.js';
import { startLocalS3, type LocalS3 } from '../../../local/s3.js';

/** The ops entries in scripts/, run as ops run them against AWS: here the AWS endpoint is the local S3. */
let root: string;
let s3server: LocalS3;
let s3: S3Client;
const BUCKET = 'ops-registry';

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'molecule-ops-'));
  s3server = await startLocalS3({ directory: join(root, 's3'), buckets: [BUCKET] });
  s3 = new S3Client({ endpoint: s3server.url, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
});
afterAll(async () => {
  s3?.destroy();
  await s3server?.close();
  await rm(root, { recursive: true, force: true });
});

async function script(file: string, args: string[], env: Record<string, string | undefined>) {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--import', 'tsx', file, ...args], {
      env: { ...process.env, ...env },
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('npm run publish-registry', () => {
  it('publishes valid plugin directories to REGISTRY_BUCKET, reports a bad one and exits 1', async () => {
    const bad = join(root, 'bad');
    await mkdir(bad, { recursive: true });
    await writeFile(join(bad, 'plugin.yaml'), 'name: [unclosed\n');
    const env = {
      AWS_ENDPOINT_URL_S3: s3server.url,
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
      REGISTRY_BUCKET: BUCKET,
      REGISTRY_PREFIX: 'curated/',
    };

    const run = await script('scripts/publish-registry.ts', ['plugins/hello-skill', bad], env);

    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^published hello-skill .*\(sha256 [0-9a-f]{64}\) to s3:\/\/ops-registry\/curated\//m);
    expect(run.stderr).toContain(`publish-registry: ${bad}: `);
    expect((await listRegistry(s3, BUCKET, 'curated/')).map((e) => e.name)).toEqual(['hello-skill']);
  });
});

describe('npm run migrate', () => {
  it('refuses to run without DATABASE_URL', async () => {
    const run = await script('scripts/migrate.ts', [], { DATABASE_URL: '' });
    expect(run).toMatchObject({ code: 2, stderr: 'DATABASE_URL is not set\n' });
  });
});
