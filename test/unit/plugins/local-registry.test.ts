import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import {
  GetObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  type GetObjectCommandInput,
  type ListObjectsV2CommandInput,
  type PutObjectCommandInput,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { listRegistry, localResolver } from '../../../lambdas/plugins/resolvers/local.js';
import { publishToRegistry } from '../../../lambdas/staging/publish-registry.js';
import type { AppError } from '../../../lambdas/shared/errors.js';
import { ACC_GOOD_FILES, ACC_GOOD_HASH, collect, listTarGz } from '../../support/archives.js';
import { stage, useStageDir } from '../../support/stage-helpers.js';

const BUCKET = 'registry-bucket';
const PREFIX = 'registry/';
const PAGE_SIZE = 2;

const s3Mock = mockClient(S3Client);
const s3 = new S3Client({ region: 'us-east-1' });
const dir = useStageDir();

/** An in-memory bucket behind the mocked client. */
let objects: Map<string, Buffer>;

function objectBody(bytes: Buffer) {
  return Object.assign(Readable.from([bytes]), { transformToString: async () => bytes.toString('utf8') });
}

beforeEach(() => {
  objects = new Map();
  s3Mock.reset();
  s3Mock.on(PutObjectCommand).callsFake(async (input: PutObjectCommandInput) => {
    const body = input.Body;
    const bytes = typeof body === 'string' ? Buffer.from(body) : await collect(body as Readable);
    if (input.ContentLength !== undefined) expect(bytes.length).toBe(input.ContentLength);
    objects.set(`${input.Bucket}/${input.Key}`, bytes);
    return {};
  });
  s3Mock.on(GetObjectCommand).callsFake(async (input: GetObjectCommandInput) => {
    const bytes = objects.get(`${input.Bucket}/${input.Key}`);
    if (!bytes) throw new NoSuchKey({ message: 'The specified key does not exist.', $metadata: { httpStatusCode: 404 } });
    return { Body: objectBody(bytes) };
  });
  s3Mock.on(ListObjectsV2Command).callsFake(async (input: ListObjectsV2CommandInput) => {
    const keys = [...objects.keys()]
      .filter((key) => key.startsWith(`${input.Bucket}/${input.Prefix ?? ''}`))
      .map((key) => key.slice(input.Bucket!.length + 1))
      .sort();
    const start = Number(input.ContinuationToken ?? 0);
    const page = keys.slice(start, start + PAGE_SIZE);
    const more = start + PAGE_SIZE < keys.length;
    return { Contents: page.map((Key) => ({ Key })), IsTruncated: more, NextContinuationToken: more ? String(start + PAGE_SIZE) : undefined };
  });
});

let pluginRoot: string;
beforeEach(async () => {
  pluginRoot = await mkdtemp(join(tmpdir(), 'plugin-src-'));
});
afterEach(async () => {
  await rm(pluginRoot, { recursive: true, force: true });
});

async function pluginDir(name: string, files: Record<string, string>): Promise<string> {
  const root = join(pluginRoot, name);
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), content);
  }
  return root;
}

const resolver = () => localResolver({ s3, bucket: BUCKET, prefix: PREFIX, fetchTimeoutMs: 1_000 });

describe('publishing to the local registry', () => {
  it('uploads the normalized archive, then its manifest with name and content hash', async () => {
    const { entry, warnings } = await publishToRegistry(s3, BUCKET, PREFIX, await pluginDir('acc-good', ACC_GOOD_FILES));
    expect(entry).toEqual({
      name: 'acc-good',
      version: '1.0.0',
      description: 'acceptance plugin',
      tags: [],
      skills: ['hello'],
      runtimes: [],
      rules: ['style.md'],
      sha256: ACC_GOOD_HASH,
    });
    // The SPEC example's SKILL.md has no frontmatter, which agentskills.io runtimes need.
    expect(warnings).toEqual(['skills/hello/SKILL.md has no YAML frontmatter: it must start with a --- line, then name and description']);
    expect(s3Mock.commandCalls(PutObjectCommand).map((call) => call.args[0].input.Key)).toEqual([
      'registry/acc-good/plugin.tar.gz',
      'registry/acc-good/manifest.json',
    ]);
    expect(JSON.parse(objects.get(`${BUCKET}/registry/acc-good/manifest.json`)!.toString())).toEqual(entry);
    const names = (await listTarGz(objects.get(`${BUCKET}/registry/acc-good/plugin.tar.gz`)!)).map((e) => e.name);
    expect(names).toEqual(['plugin.yaml', 'rules/', 'rules/style.md', 'skills/', 'skills/hello/', 'skills/hello/SKILL.md']);
  });

  it('names the plugin after its directory when plugin.yaml does not', async () => {
    const { entry } = await publishToRegistry(s3, BUCKET, PREFIX, await pluginDir('dir-name', { 'rules/a.md': 'a' }));
    expect(entry.name).toBe('dir-name');
    expect(objects.has(`${BUCKET}/registry/dir-name/plugin.tar.gz`)).toBe(true);
  });

  it('leaves out symlinks, with a warning', async () => {
    const root = await pluginDir('linky', { 'a.md': 'a' });
    await symlink('/etc/passwd', join(root, 'passwd'));
    const { warnings } = await publishToRegistry(s3, BUCKET, PREFIX, root);
    expect(warnings).toEqual(['skipped "passwd": not a regular file or directory']);
    const names = (await listTarGz(objects.get(`${BUCKET}/registry/linky/plugin.tar.gz`)!)).map((e) => e.name);
    expect(names).toEqual(['a.md']);
  });

  it('uploads nothing for a plugin that fails validation', async () => {
    const root = await pluginDir('broken', { 'plugin.yaml': 'skills: [../../etc]\n', 'a.md': 'a' });
    await expect(publishToRegistry(s3, BUCKET, PREFIX, root)).rejects.toMatchObject({ code: 'manifest_invalid' });
    expect(s3Mock.commandCalls(PutObjectCommand)).toHaveLength(0);
  });
});

describe('fetching from the local registry', () => {
  it('reads <prefix><name>/plugin.tar.gz and stages it as published', async () => {
    await publishToRegistry(s3, BUCKET, PREFIX, await pluginDir('acc-good', ACC_GOOD_FILES));
    const fetched = await resolver().fetch('acc-good', {});
    expect(fetched).toMatchObject({ stripTopLevel: false, fallbackName: 'acc-good' });
    expect(s3Mock.commandCalls(GetObjectCommand).at(-1)?.args[0].input).toEqual({ Bucket: BUCKET, Key: 'registry/acc-good/plugin.tar.gz' });
    const { result } = await stage(fetched.body, { tmpDir: dir.path, fallbackName: fetched.fallbackName });
    expect(result).toMatchObject({ name: 'acc-good', contentHash: ACC_GOOD_HASH });
  });

  it('maps a missing object to source_not_found', async () => {
    const error = await resolver()
      .fetch('nope', {})
      .catch((err: unknown) => err);
    expect(error).toMatchObject({ code: 'source_not_found', status: 404, message: 'plugin "nope" is not in the registry' });
  });

  it('maps any other S3 failure to fetch_failed without its text', async () => {
    s3Mock
      .on(GetObjectCommand)
      .rejects(
        new S3ServiceException({ name: 'InternalError', $fault: 'server', message: 'arn:aws:s3:::secret-bucket broke', $metadata: { httpStatusCode: 500 } }),
      );
    const error = (await resolver()
      .fetch('acc-good', {})
      .catch((err: unknown) => err)) as AppError;
    expect(error).toMatchObject({ code: 'fetch_failed', status: 502, message: 'fetching local://acc-good failed' });
  });

  it('bounds reading the object by the fetch timeout', async () => {
    s3Mock.on(GetObjectCommand).resolves({ Body: Object.assign(new Readable({ read() {} }), { transformToString: async () => '' }) as never });
    const fetched = await localResolver({ s3, bucket: BUCKET, prefix: PREFIX, fetchTimeoutMs: 100 }).fetch('slow', {});
    const outcome = await stage(fetched.body, { tmpDir: dir.path });
    expect((outcome.error as AppError).code).toBe('fetch_timeout');
  });

  it('rejects an invalid name before calling S3', async () => {
    await expect(resolver().fetch('../secret', {})).rejects.toMatchObject({ code: 'invalid_plugin_name' });
    expect(s3Mock.commandCalls(GetObjectCommand)).toHaveLength(0);
  });
});

describe('listing the local registry', () => {
  it('pages through every manifest, sorted by name, asking for bounded pages', async () => {
    for (const name of ['zeta', 'alpha', 'mid']) {
      await publishToRegistry(s3, BUCKET, PREFIX, await pluginDir(name, { 'plugin.yaml': `name: ${name}\nversion: "1"\n`, 'a.md': name }));
    }
    const entries = await listRegistry(s3, BUCKET, PREFIX);
    expect(entries.map((e) => [e.name, e.version])).toEqual([
      ['alpha', '1'],
      ['mid', '1'],
      ['zeta', '1'],
    ]);
    const lists = s3Mock.commandCalls(ListObjectsV2Command).map((call) => call.args[0].input);
    expect(lists.length).toBeGreaterThan(1);
    expect(lists.every((input) => input.MaxKeys === 1000 && input.Prefix === PREFIX)).toBe(true);
  });

  it('leaves out manifests that are not valid, or that do not match their key', async () => {
    await publishToRegistry(s3, BUCKET, PREFIX, await pluginDir('good', { 'a.md': 'a' }));
    objects.set(`${BUCKET}/registry/broken/manifest.json`, Buffer.from('{not json'));
    objects.set(`${BUCKET}/registry/imposter/manifest.json`, Buffer.from(JSON.stringify({ name: 'good', sha256: ACC_GOOD_HASH })));
    objects.set(`${BUCKET}/registry/Bad Key/manifest.json`, Buffer.from(JSON.stringify({ name: 'x', sha256: ACC_GOOD_HASH })));
    objects.set(`${BUCKET}/registry/nested/deeper/manifest.json`, Buffer.from('{}'));
    expect((await listRegistry(s3, BUCKET, PREFIX)).map((e) => e.name)).toEqual(['good']);
  });
});
