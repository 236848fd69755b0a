import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalS3, type LocalS3 } from '../../../local/s3.js';
import { registryDirectories, seedRegistry } from '../../../local/registry.js';
import { listRegistry } from '../../../lambdas/plugins/resolvers/local.js';
import { logger } from '../../../lambdas/shared/logger.js';

/** Seeding the local registry against a real (s3rver) bucket. */
let root = '';
let s3server: LocalS3;
let s3: S3Client;
const target = { bucket: 'registry', prefix: 'registry/' };

async function plugin(dir: string, files: Record<string, string>) {
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), text);
  }
  return dir;
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'registry-seed-'));
  s3server = await startLocalS3({ directory: join(root, 's3'), buckets: [target.bucket] });
  s3 = new S3Client({
    region: 'us-east-1',
    endpoint: s3server.url,
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
});
afterAll(async () => {
  await s3server?.close();
  await rm(root, { recursive: true, force: true });
});

describe('seeding the local registry', () => {
  it('skips plugins that fail staging, naming them, and publishes the rest', async () => {
    const good = await plugin(join(root, 'a', 'good'), { 'plugin.yaml': 'name: good\nversion: 1.0.0\n', 'rules/r.md': 'r\n' });
    const badYaml = await plugin(join(root, 'a', 'bad-yaml'), { 'plugin.yaml': 'name: [unclosed\n' });
    const empty = join(root, 'a', 'empty');
    await mkdir(empty, { recursive: true });
    const result = await seedRegistry(s3, target, [badYaml, empty, good], { log: logger });
    expect(result).toEqual({ published: ['good'], skipped: ['bad-yaml', 'empty'] });
    expect((await listRegistry(s3, target.bucket, target.prefix)).map((e) => e.name)).toEqual(['good']);
  });

  it('holds exactly what this start published, the later of two same-named plugins winning', async () => {
    const first = await plugin(join(root, 'b', 'one'), { 'plugin.yaml': 'name: dup\nversion: 1.0.0\n', 'a.md': 'a\n' });
    const second = await plugin(join(root, 'b', 'two'), { 'plugin.yaml': 'name: dup\nversion: 2.0.0\n', 'a.md': 'b\n' });
    await seedRegistry(s3, target, [first, second], { log: logger });
    expect((await listRegistry(s3, target.bucket, target.prefix)).map((e) => [e.name, e.version])).toEqual([['dup', '2.0.0']]);
  });

  it('does not take hidden directories such as .git for plugins', async () => {
    await plugin(join(root, 'c', '.git'), { HEAD: 'ref: refs/heads/main\n' });
    await plugin(join(root, 'c', 'real'), { 'plugin.yaml': 'name: real\n' });
    expect(registryDirectories(join(root, 'nowhere'), join(root, 'c'))).toEqual([join(root, 'c', 'real')]);
  });
});
