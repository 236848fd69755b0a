import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { createTestApi } from '../../support/api.js';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';
import { sourceCatalog } from '../../../lambdas/composition/api.js';
import { createResolvers } from '../../../lambdas/plugins/source.js';
import { upsertWorkspace } from '../../../lambdas/store/workspaces.js';
import { mintToken } from '../../../lambdas/store/tokens.js';
import { deleteInstalled, upsertInstalled } from '../../../lambdas/store/installed.js';

/** The API's synchronous decisions for install, in the seed's order, with Step Functions mocked. */
let t: TestDatabase;
let api: ReturnType<typeof createTestApi>;
let orgToken = '';
const sfn = mockClient(SFNClient);

beforeAll(async () => {
  t = await createTestDatabase();
  api = createTestApi(t.db, {
    adminToken: 'admin',
    sources: (config) => sourceCatalog(createResolvers({ s3: new S3Client({ region: 'us-east-1' }), config })),
  });
  await upsertWorkspace(t.db, 'ws', { orgId: 'org', runtime: 'claude-code', instanceId: 'i-0123456789abcdef0' });
  await upsertWorkspace(t.db, 'ext', { orgId: 'org', runtime: 'external' });
  orgToken = (await mintToken(t.db, 'org', { orgId: 'org' })).token;
});
afterAll(async () => t?.close());
beforeEach(() => {
  sfn.reset();
  sfn.on(StartExecutionCommand).resolves({ executionArn: 'arn:exec', startDate: new Date() });
});

async function post(workspace: string, body: string, token = orgToken, headers: Record<string, string> = {}) {
  const res = await api({
    method: 'POST',
    path: `/workspaces/${workspace}/plugins`,
    query: {},
    body,
    requestId: 'req',
    headers: { authorization: `Bearer ${token}`, ...headers },
  });
  return { status: res.statusCode, body: JSON.parse(res.body) as Record<string, unknown> };
}

describe('install validation order', () => {
  it('rejects an external workspace before looking at the body', async () => {
    expect(await post('ext', '{garbage')).toMatchObject({ status: 422, body: { code: 'external_runtime' } });
  });

  it('rejects a bad body before the source, and a bad source before an unknown workspace', async () => {
    expect((await post('ws', '{"source": 5}')).body.code).toBe('invalid_request');
    expect((await post('nope', '{"source":"ftp://x"}', 'admin')).body.code).toBe('invalid_source');
    expect((await post('nope', '{"source":"local://ok"}', 'admin')).body.code).toBe('workspace_not_found');
  });

  it('starts nothing for a rejected request', async () => {
    await post('ws', '{"source":"github://a/b"}');
    await post('ws', '{"source":"local://BAD"}');
    expect(sfn).not.toHaveReceivedCommand(StartExecutionCommand);
  });

  it('accepts a valid request with 202, an operation id and its status URL, starting one execution', async () => {
    const res = await post('ws', `{"source":"local://hello","sha256":"${'A'.repeat(64)}","uninstallAfter":"P7D"}`);
    expect(res).toMatchObject({ status: 202, body: { status: 'installing', operationId: expect.any(String) } });
    expect(res.body.statusUrl).toBe(`/workspaces/ws/plugins/operations/${res.body.operationId}`);
    const input = JSON.parse(sfn.commandCalls(StartExecutionCommand)[0]!.args[0].input.input!);
    expect(input).toMatchObject({ kind: 'install', source: 'local://hello', plugin: 'hello', expectedSha256: 'a'.repeat(64), restart: true });
    expect(Date.parse(input.uninstallAt) - Date.now()).toBeGreaterThan(6.9 * 86_400_000);
  });

  it('records a bare name as the local:// source it means, and says what is wrong with a source that is not a string', async () => {
    expect((await post('ws', '{"source":"hello"}')).status).toBe(202);
    expect(JSON.parse(sfn.commandCalls(StartExecutionCommand)[0]!.args[0].input.input!).source).toBe('local://hello');
    expect((await post('ws', '{"source":5}')).body.error).toBe('invalid request body: source: source must be a string');
    expect((await post('ws', '{}')).body.error).toBe('invalid request body: source: missing source');
  });

  it('reads a body that starts with a UTF-8 byte order mark', async () => {
    expect((await post('ws', '\uFEFF{"source":"local://hello"}')).status).toBe(202);
  });

  it('rejects an uninstallAfter that is not an ISO-8601 duration', async () => {
    expect((await post('ws', '{"source":"local://hello","uninstallAfter":"7 days"}')).body.code).toBe('invalid_request');
  });

  it('accepts calendar months, and refuses a schedule more than 100 years ahead with 400 rather than failing later', async () => {
    const month = await post('ws', '{"source":"local://hello","uninstallAfter":"P1M"}');
    expect(month.status).toBe(202);
    for (const duration of ['P101Y', 'P100000000D', 'PT999999999999999999999S']) {
      const res = await post('ws', `{"source":"local://hello","uninstallAfter":"${duration}"}`);
      expect(res, duration).toMatchObject({ status: 400, body: { code: 'invalid_request', error: 'uninstallAfter must be at most 100 years ahead' } });
    }
    expect(sfn).toHaveReceivedCommandTimes(StartExecutionCommand, 1);
  });

  it('refuses changes to a workspace the platform removed', async () => {
    await upsertWorkspace(t.db, 'gone', { orgId: 'org', runtime: 'claude-code', instanceId: 'i-0123456789abcdef1', status: 'removed' });
    expect(await post('gone', '{"source":"local://hello"}')).toMatchObject({
      status: 404,
      body: { code: 'workspace_not_found', error: 'workspace "gone" was removed' },
    });
    expect(sfn).not.toHaveReceivedCommand(StartExecutionCommand);
    const mint = await api({
      method: 'POST',
      path: '/admin/workspaces/gone/tokens',
      query: {},
      body: '',
      requestId: 'req',
      headers: { authorization: 'Bearer admin' },
    });
    expect(mint.statusCode).toBe(404);
  });

  it('answers 503 platform_unavailable when the workflow cannot be started', async () => {
    sfn.reset();
    sfn.on(StartExecutionCommand).rejects(new Error('throttled'));
    expect(await post('ws', '{"source":"local://hello"}')).toMatchObject({ status: 503, body: { code: 'platform_unavailable' } });
  });
});

describe('scheduled uninstall time', () => {
  const del = async (query: Record<string, string>) => {
    const res = await api({
      method: 'DELETE',
      path: '/workspaces/ws/plugins/sched',
      query,
      body: '',
      requestId: 'req',
      headers: { authorization: `Bearer ${orgToken}` },
    });
    return { status: res.statusCode, body: JSON.parse(res.body) as Record<string, unknown> };
  };

  beforeAll(async () => {
    await upsertInstalled(t.db, {
      workspaceId: 'ws',
      name: 'sched',
      version: '1',
      source: 'local://sched',
      sha256: 'a'.repeat(64),
      skills: [],
      runtimes: [],
      uninstallAt: null,
    });
  });

  it('schedules a valid future time given with its offset', async () => {
    expect(await del({ at: '2099-01-02T03:04:05+01:00' })).toMatchObject({
      status: 202,
      body: { status: 'scheduled', plugin: 'sched', uninstallAt: '2099-01-02T02:04:05.000Z' },
    });
  });

  it('refuses impossible dates, times without an offset and times over 100 years ahead, starting nothing', async () => {
    for (const at of ['2099-02-30T00:00:00Z', '2099-01-01T00:00:00', '2099-01-01T24:00:00Z', 'tomorrow', '9999-01-01T00:00:00Z']) {
      expect(await del({ at }), at).toMatchObject({ status: 400, body: { code: 'invalid_request' } });
    }
    expect(sfn).not.toHaveReceivedCommand(StartExecutionCommand);
  });
});

describe('Idempotency-Key', () => {
  const key = (k: string) => ({ 'idempotency-key': k });

  it('replays the same request as the same operation and refuses the key on a different request', async () => {
    const first = await post('ws', '{"source":"local://hello","uninstallAfter":"P1D"}', orgToken, key('k-same'));
    const again = await post('ws', '{"source":"hello", "uninstallAfter":"PT24H"}', orgToken, key('k-same'));
    expect(again).toMatchObject({ status: 202, body: { operationId: first.body.operationId } });

    const other = await post('ws', '{"source":"local://other"}', orgToken, key('k-same'));
    expect(other).toMatchObject({ status: 422, body: { code: 'idempotency_key_reused', operationId: first.body.operationId } });
    const noRestart = await post('ws', '{"source":"local://hello","uninstallAfter":"P1D","restart":false}', orgToken, key('k-same'));
    expect(noRestart.body.code).toBe('idempotency_key_reused');

    const uninstall = await api({
      method: 'DELETE',
      path: '/workspaces/ws/plugins/sched',
      query: {},
      body: '',
      requestId: 'req',
      headers: { authorization: `Bearer ${orgToken}`, ...key('k-same') },
    });
    expect(uninstall.statusCode).toBe(422);
    const scheduleWithUsedKey = await api({
      method: 'DELETE',
      path: '/workspaces/ws/plugins/sched',
      query: { at: '2099-01-01T00:00:00Z' },
      body: '',
      requestId: 'req',
      headers: { authorization: `Bearer ${orgToken}`, ...key('k-same') },
    });
    expect(scheduleWithUsedKey.statusCode).toBe(422);
    expect(sfn).toHaveReceivedCommandTimes(StartExecutionCommand, 1);
  });

  it('answers a replayed uninstall with its operation even once the plugin is gone', async () => {
    await upsertInstalled(t.db, {
      workspaceId: 'ws',
      name: 'replayed',
      version: '1',
      source: 'local://replayed',
      sha256: 'a'.repeat(64),
      skills: [],
      runtimes: [],
      uninstallAt: null,
    });
    const del = () =>
      api({
        method: 'DELETE',
        path: '/workspaces/ws/plugins/replayed',
        query: {},
        body: '',
        requestId: 'req',
        headers: { authorization: `Bearer ${orgToken}`, ...key('k-del') },
      });
    const first = JSON.parse((await del()).body);
    await deleteInstalled(t.db, 'ws', 'replayed');
    const replay = await del();
    expect(replay.statusCode).toBe(202);
    expect(JSON.parse(replay.body).operationId).toBe(first.operationId);
    expect(sfn).toHaveReceivedCommandTimes(StartExecutionCommand, 1);
  });
});
