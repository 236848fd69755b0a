import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { S3Client } from '@aws-sdk/client-s3';
import { createResolvers, parseSource, type ResolverConfig } from '../../../lambdas/plugins/source.js';
import { AppError, ERROR_STATUS, type ErrorCode } from '../../../lambdas/shared/errors.js';
import { ACC_GOOD_FILES, ACC_GOOD_HASH, pluginEntries, tarGz } from '../../support/archives.js';
import { stage, useStageDir } from '../../support/stage-helpers.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

// A local stand-in for codeload.github.com and clawhub; a fresh one per test, so a connection
// the client pooled in one test is never offered to the next.
let server: Server;
let baseUrl: string;
let handler: Handler;
let requests: Array<{ url: string; authorization: string | undefined }>;

beforeEach(async () => {
  server = createServer((req, res) => {
    requests.push({ url: req.url ?? '', authorization: req.headers.authorization });
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterEach(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const dir = useStageDir();

function serve(status: number, body: Buffer | string = ''): void {
  handler = (_req, res) => {
    res.writeHead(status, { 'content-type': 'application/gzip' });
    res.end(body);
  };
  requests = [];
}

/** Resolves when the client closes a request the server never finished answering. */
let abandoned: Promise<void> = Promise.resolve();

function hang(afterBytes?: Buffer): void {
  let closed: () => void = () => undefined;
  abandoned = new Promise((resolve) => (closed = resolve));
  handler = (_req, res) => {
    res.once('close', closed);
    if (afterBytes) {
      res.writeHead(200, { 'content-type': 'application/gzip' });
      res.write(afterBytes);
    }
  };
  requests = [];
}

function resolvers(config: Partial<ResolverConfig> = {}) {
  return createResolvers({
    s3: new S3Client({}),
    config: {
      registryBucket: 'registry',
      registryPrefix: 'registry/',
      githubCodeloadUrl: baseUrl,
      githubToken: undefined,
      clawhubBaseUrl: baseUrl,
      allowUnpinned: false,
      limits: { fetchTimeoutMs: 2_000 },
      ...config,
    },
  });
}

async function fetchSource(raw: string, config: Partial<ResolverConfig> = {}, signal?: AbortSignal) {
  const source = parseSource(raw);
  return resolvers(config)
    .resolverFor(source)
    .fetch(source.spec, signal ? { signal } : {});
}

async function expectFailure(promise: Promise<unknown>, code: ErrorCode): Promise<AppError> {
  const error = await promise.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(AppError);
  expect({ code: (error as AppError).code, status: (error as AppError).status }).toEqual({ code, status: ERROR_STATUS[code] });
  return error as AppError;
}

describe('github resolver', () => {
  it('fetches the codeload tarball and strips its top-level directory', async () => {
    serve(200, await tarGz(pluginEntries(ACC_GOOD_FILES, 'acme-acc-good-1a2b3c4')));
    const fetched = await fetchSource('github://acme/acc-good#v1.0.0');
    expect(requests.map((r) => r.url)).toEqual(['/acme/acc-good/tar.gz/v1.0.0']);
    expect(fetched).toMatchObject({ stripTopLevel: true, fallbackName: 'acc-good' });
    const { result } = await stage(fetched.body, { tmpDir: dir.path, stripTopLevel: true, fallbackName: fetched.fallbackName });
    expect(result).toMatchObject({ name: 'acc-good', contentHash: ACC_GOOD_HASH });
  });

  it('names the plugin after the repository (lower-cased) when plugin.yaml does not', async () => {
    serve(200, await tarGz(pluginEntries({ 'rules/a.md': 'a' }, 'Acme-Tools-abc')));
    const fetched = await fetchSource('github://Acme/Tools#main');
    const { result } = await stage(fetched.body, { tmpDir: dir.path, stripTopLevel: true, fallbackName: fetched.fallbackName });
    expect(result?.name).toBe('tools');
  });

  it('sends the GitHub token as a bearer token, and nothing without one', async () => {
    serve(200, await tarGz(pluginEntries(ACC_GOOD_FILES, 'top')));
    (await fetchSource('github://acme/private#v1', { githubToken: 'ghp_secret' })).body.destroy();
    (await fetchSource('github://acme/public#v1')).body.destroy();
    expect(requests.map((r) => r.authorization)).toEqual(['Bearer ghp_secret', undefined]);
  });

  it('asks for HEAD when unpinned sources are allowed', async () => {
    serve(200, await tarGz(pluginEntries(ACC_GOOD_FILES, 'top')));
    (await fetchSource('github://acme/tools', { allowUnpinned: true })).body.destroy();
    expect(requests.map((r) => r.url)).toEqual(['/acme/tools/tar.gz/HEAD']);
  });

  it('keeps a ref with slashes as path segments', async () => {
    serve(200, await tarGz(pluginEntries(ACC_GOOD_FILES, 'top')));
    (await fetchSource('github://acme/tools#feature/new@2')).body.destroy();
    expect(requests.map((r) => r.url)).toEqual(['/acme/tools/tar.gz/feature/new%402']);
  });

  it('maps 404 to source_not_found', async () => {
    serve(404, 'Not Found');
    const error = await expectFailure(fetchSource('github://acme/missing#v1'), 'source_not_found');
    expect(error.message).toBe('github://acme/missing#v1 was not found');
  });

  it.each([500, 403, 429, 302])('maps HTTP %i to fetch_failed without echoing the upstream body', async (status) => {
    serve(status, 'upstream stack trace with internal-host.corp and a token');
    const error = await expectFailure(fetchSource('github://acme/tools#v1'), 'fetch_failed');
    expect(error.message).toBe(`fetching github://acme/tools#v1 failed: the server answered HTTP ${status}`);
    expect(JSON.stringify(error.details)).not.toMatch(/internal-host|token/);
  });

  it('maps an unreachable host to fetch_failed', async () => {
    const error = await expectFailure(fetchSource('github://acme/tools#v1', { githubCodeloadUrl: 'http://127.0.0.1:1' }), 'fetch_failed');
    expect(error.message).toBe('fetching github://acme/tools#v1 failed');
  });

  it('gives up on a host that never answers with fetch_timeout (504)', async () => {
    hang();
    const error = await expectFailure(fetchSource('github://acme/tools#v1', { limits: { fetchTimeoutMs: 150 } }), 'fetch_timeout');
    expect(error.message).toBe('fetching github://acme/tools#v1 took longer than 150 ms');
    await abandoned; // the client hung up rather than leaving the request open
  });

  it('bounds the whole fetch, body included: a stalled download fails staging with fetch_timeout', async () => {
    const archive = await tarGz(pluginEntries(ACC_GOOD_FILES, 'top'));
    hang(archive.subarray(0, 40));
    // Long enough that the headers and first bytes arrive first on a loaded machine: the stall is in the body.
    const fetched = await fetchSource('github://acme/tools#v1', { limits: { fetchTimeoutMs: 3_000 } });
    const outcome = await stage(fetched.body, { tmpDir: dir.path, stripTopLevel: true, fallbackName: fetched.fallbackName });
    expect((outcome.error as AppError).code).toBe('fetch_timeout');
    expect(outcome.sink.calls).toBe(0);
    expect(await dir.leftovers()).toEqual([]);
  });

  it("stops when the caller aborts, with the caller's reason", async () => {
    hang();
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('step cancelled')), 50);
    await expect(fetchSource('github://acme/tools#v1', {}, controller.signal)).rejects.toThrow('step cancelled');
  });
});

describe('clawhub resolver', () => {
  it('fetches /plugins/<name>/<version>.tar.gz without stripping', async () => {
    serve(200, await tarGz(pluginEntries(ACC_GOOD_FILES)));
    const fetched = await fetchSource('clawhub://acc-good@1.0.0');
    expect(requests.map((r) => r.url)).toEqual(['/plugins/acc-good/1.0.0.tar.gz']);
    expect(fetched).toMatchObject({ stripTopLevel: false, fallbackName: 'acc-good' });
    const { result } = await stage(fetched.body, { tmpDir: dir.path, fallbackName: fetched.fallbackName });
    expect(result).toMatchObject({ name: 'acc-good', contentHash: ACC_GOOD_HASH });
  });

  it.each([
    [404, 'source_not_found'],
    [500, 'fetch_failed'],
    [503, 'fetch_failed'],
  ] as const)('maps HTTP %i to %s', async (status, code) => {
    serve(status, 'upstream says no');
    await expectFailure(fetchSource('clawhub://acc-good@1.0.0'), code);
  });

  it('gives up on a host that never answers with fetch_timeout', async () => {
    hang();
    await expectFailure(fetchSource('clawhub://acc-good@1.0.0', { limits: { fetchTimeoutMs: 100 } }), 'fetch_timeout');
  });
});
