import { fakeKeptTarballs, keepsTarballsInMemory } from '../../support/operation-fakes.js';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import { DeleteObjectCommand, NotFound, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { SFNClient, SFNServiceException, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { DescribeInstanceInformationCommand, GetCommandInvocationCommand, SendCommandCommand, SSMClient } from '@aws-sdk/client-ssm';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';
import { createDb } from '../../../lambdas/store/db.js';
import { isRestartPending, setRestartPending, upsertWorkspace } from '../../../lambdas/store/workspaces.js';
import { createOperation, getOperation } from '../../../lambdas/store/operations.js';
import { acquireLease } from '../../../lambdas/store/leases.js';
import { replaceAllowlist } from '../../../lambdas/store/allowlist.js';
import { getInstalled, upsertInstalled } from '../../../lambdas/store/installed.js';
import { sfnStarter } from '../../../lambdas/use-cases/adapters/sfn.js';
import { startOperationOnDb as startOperation } from '../../../lambdas/composition/on-db.js';
import { runCleanupOnDb as runCleanup } from '../../../lambdas/composition/on-db.js';
import { checkAllowlistStep } from '../../../lambdas/workflow/steps/check-allowlist.js';
import { recordFailureStep } from '../../../lambdas/workflow/steps/record-failure.js';
import { deliverStep, type DeliverDeps } from '../../../lambdas/workflow/steps/deliver.js';
import { restartStep } from '../../../lambdas/workflow/steps/restart.js';
import { recordStep } from '../../../lambdas/workflow/steps/record.js';
import { removeStep } from '../../../lambdas/workflow/steps/remove.js';
import { AppError, InvalidArchive } from '../../../lambdas/shared/errors.js';
import { stageStep } from '../../../lambdas/workflow/steps/stage.js';
import { defineStep } from '../../../lambdas/workflow/steps/step.js';
import * as z from '../../../lambdas/shared/zod.js';
import { createResolvers } from '../../../lambdas/plugins/source.js';
import { loadConfig } from '../../../lambdas/shared/config.js';
import { FakeCodeload } from '../../support/codeload.js';
import { ACC_GOOD_FILES, ACC_GOOD_HASH, pluginEntries, tarGz } from '../../support/archives.js';
import { logger } from '../../../lambdas/shared/logger.js';
import type { StagedPlugin, Workspace } from '../../../lambdas/shared/types.js';
import { stagedDemo } from '../../support/demo-plugin.js';
import { postgresStepPorts } from '../../../lambdas/workflow/adapters/postgres.js';

/** Each step's decisions, on a real database with AWS clients mocked (aws-sdk-client-mock). */
let t: TestDatabase;
const s3 = mockClient(S3Client);
const sfn = mockClient(SFNClient);
const ssm = mockClient(SSMClient);
let workspace: Workspace;
let seq = 0;

beforeAll(async () => {
  t = await createTestDatabase();
  workspace = (await upsertWorkspace(t.db, 'ws-steps', { orgId: 'org-steps', runtime: 'claude-code', instanceId: 'i-0123456789abcdef0', transport: 'ssm' }))
    .workspace;
});
afterAll(async () => t?.close());
beforeEach(() => {
  s3.reset();
  sfn.reset();
  ssm.reset();
});

/** A workflow document on a fresh operation: by default an install Stage has staged; `overrides` set another phase. */
async function newState(overrides: Record<string, unknown> = {}): Promise<{ operationId: string; staged: StagedPlugin } & Record<string, unknown>> {
  const operationId = `00000000-0000-4000-8000-${String(++seq).padStart(12, '0')}`;
  await createOperation(t.db, {
    id: operationId,
    workspaceId: workspace.id,
    orgId: workspace.orgId,
    kind: overrides.kind === 'uninstall' ? 'uninstall' : 'install',
    plugin: null,
    source: 'local://demo',
    sha256: null,
    idempotencyKey: null,
    requestHash: null,
    actorPrefix: 'test',
    executionArn: null,
  });
  return {
    phase: 'staged',
    operationId,
    kind: 'install',
    workspace,
    source: 'local://demo',
    plugin: 'demo',
    expectedSha256: null,
    restart: true,
    uninstallAt: null,
    staged: stagedDemo(operationId),
    ...overrides,
  };
}

const accepted = { phase: 'accepted', plugin: null, staged: undefined };
const delivered = (changedOnlySkillDocs: boolean) => ({ phase: 'delivered', delivered: { transport: 'ssm', changedOnlySkillDocs } });

const hostDeps = (): DeliverDeps => ({
  ports: postgresStepPorts(t.db),
  s3: new S3Client({ region: 'us-east-1' }),
  config: { leaseTtlMs: 60_000, presignTtlSeconds: 300 },
  delivery: {
    ssm: new SSMClient({ region: 'us-east-1' }),
    config: {
      configDirFor: () => '/configs',
      restartCommand: 'docker restart ws-{workspaceId}',
      deliveryTimeoutMs: 5_000,
      healthCommandFor: () => 'true',
      healthTimeoutMs: 4_000,
    },
    ssmPolling: { pollIntervalMs: 1, maxPollIntervalMs: 5 },
  },
});

describe('starting an operation', () => {
  it("names the execution after what it does, with the operation id's 8 hex, and stores its name and ARN", async () => {
    sfn
      .on(StartExecutionCommand)
      .callsFake(async (input: { name: string }) => ({ executionArn: `arn:aws:states:us-east-1:1:execution:m:${input.name}`, startDate: new Date() }));
    const { operation } = await startOperation(
      { db: t.db, workflow: sfnStarter(new SFNClient({ region: 'us-east-1' }), 'arn:aws:states:us-east-1:1:stateMachine:m'), log: logger },
      {
        kind: 'install',
        workspace,
        source: 'local://demo',
        plugin: 'demo',
        expectedSha256: null,
        restart: true,
        uninstallAt: null,
        idempotencyKey: null,
        actorPrefix: 'test',
        asked: {},
      },
    );
    const name = `install-ws-steps-demo-${operation.operationId.slice(0, 8)}`;
    expect(sfn).toHaveReceivedCommandWith(StartExecutionCommand, { stateMachineArn: 'arn:aws:states:us-east-1:1:stateMachine:m', name });
    // The state document travels as a JSON string; it is read back to compare its fields.
    const [call] = sfn.commandCalls(StartExecutionCommand);
    expect(JSON.parse(String(call?.args[0].input.input))).toMatchObject({ operationId: operation.operationId, kind: 'install', source: 'local://demo' });
    const stored = await getOperation(t.db, operation.operationId);
    expect(stored?.executionArn).toBe(`arn:aws:states:us-east-1:1:execution:m:${name}`);
    expect(stored?.executionName).toBe(name);
  });

  it('stores the ARN Step Functions returns when it differs from the derived one', async () => {
    sfn.on(StartExecutionCommand).resolves({ executionArn: 'arn:aws:states:us-east-1:1:express:other', startDate: new Date() });
    const { operation } = await startOperation(
      { db: t.db, workflow: sfnStarter(new SFNClient({ region: 'us-east-1' }), 'arn:aws:states:us-east-1:1:stateMachine:m'), log: logger },
      {
        kind: 'install',
        workspace,
        source: 'local://demo',
        plugin: 'demo',
        expectedSha256: null,
        restart: true,
        uninstallAt: null,
        idempotencyKey: null,
        actorPrefix: 'test',
        asked: {},
      },
    );
    expect((await getOperation(t.db, operation.operationId))?.executionArn).toBe('arn:aws:states:us-east-1:1:express:other');
  });

  it('answers 503 and closes the operation when the workflow cannot be started', async () => {
    sfn.on(StartExecutionCommand).rejects(new Error('ServiceUnavailable'));
    const attempt = startOperation(
      { db: t.db, workflow: sfnStarter(new SFNClient({ region: 'us-east-1' }), 'arn:m'), log: logger },
      {
        kind: 'install',
        workspace,
        source: 'local://demo',
        plugin: null,
        expectedSha256: null,
        restart: true,
        uninstallAt: null,
        idempotencyKey: 'k-503',
        actorPrefix: 'test',
        asked: {},
      },
    );
    await expect(attempt).rejects.toMatchObject({ code: 'platform_unavailable', status: 503 });
    const rows = await t.db.query("SELECT status, error FROM plugin_operations WHERE idempotency_key = 'k-503'");
    expect(rows.rows[0]).toMatchObject({ status: 'FAILED', error: { code: 'platform_unavailable' } });
  });
});

describe('Stage', () => {
  const codeload = new FakeCodeload();
  beforeAll(async () => {
    await codeload.start();
  });
  afterAll(async () => codeload.stop());

  function stage() {
    const config = { ...loadConfig({}), githubCodeloadUrl: codeload.url, stagingBucket: 'staging' };
    const s3Client = new S3Client({ region: 'us-east-1' });
    return stageStep({
      ports: postgresStepPorts(t.db),
      s3: s3Client,
      resolvers: createResolvers({ s3: s3Client, config }),
      config,
      tarballs: fakeKeptTarballs(),
      clock: { now: () => new Date() },
    });
  }

  it('writes the normalized tarball under the operation and records name, hash and warnings', async () => {
    codeload.set('acme/acc-good', 'v1', () =>
      tarGz([...pluginEntries(ACC_GOOD_FILES, 'acc-good-v1'), { name: 'acc-good-v1/link', type: 'symlink', linkname: '/etc/passwd' }]),
    );
    s3.on(PutObjectCommand).callsFake(async (input: { Body: NodeJS.ReadableStream }) => {
      for await (const _chunk of input.Body) void _chunk;
      return {};
    });
    const state = await stage()(await newState({ ...accepted, source: 'github://acme/acc-good#v1' }));
    expect(state.staged).toMatchObject({
      bucket: 'staging',
      key: `staged/${state.operationId}/acc-good.tar.gz`,
      name: 'acc-good',
      version: '1.0.0',
      sha256: ACC_GOOD_HASH,
      skills: ['hello'],
    });
    expect(s3).toHaveReceivedCommandWith(PutObjectCommand, {
      Bucket: 'staging',
      Key: state.staged.key,
      ContentType: 'application/gzip',
      Metadata: { 'plugin-sha256': ACC_GOOD_HASH },
      ContentLength: expect.any(Number),
    });
    const [put] = s3.commandCalls(PutObjectCommand);
    expect(put?.args[0].input.ContentLength).toBeGreaterThan(0);
    const op = await getOperation(t.db, state.operationId);
    expect(op).toMatchObject({ plugin: 'acc-good', sha256: ACC_GOOD_HASH });
    expect(op?.warnings.join()).toContain('link');
  });

  it('counts the fetch timeout from the request, so a retried fetch gets no fresh budget', async () => {
    codeload.set('acme/slow', 'v1', () => new PassThrough()); // headers, then a body that never ends
    const requests = codeload.requests.length;
    const timeoutMs = loadConfig({}).limits.fetchTimeoutMs;
    // Earlier attempts used the time up and failed (a timed-out one would have ended the operation).
    const spent = stage()(await newState({ ...accepted, source: 'github://acme/slow#v1', requestedAt: new Date(Date.now() - timeoutMs - 1000).toISOString() }));
    await expect(spent).rejects.toMatchObject({ name: 'FetchFailed', code: 'fetch_failed' });
    expect(codeload.requests.length).toBe(requests);

    const state = await newState({ ...accepted, source: 'github://acme/slow#v1' });
    // 8 s of the budget left: the hang ends at the deadline, not after a fresh 5 min. (With 1 s left a
    // loaded machine could spend it before the fetch began, turning the expected timeout into fetch_failed.)
    const hanging = stage()({ ...state, requestedAt: new Date(Date.now() - timeoutMs + 8_000).toISOString() });
    await expect(hanging).rejects.toMatchObject({ name: 'FetchTimeout', code: 'fetch_timeout' });
    expect(s3).not.toHaveReceivedCommand(PutObjectCommand);
  });

  it('fails as the retried platform_unavailable, in its own words, when S3 fails the upload (issue #27)', async () => {
    codeload.set('acme/acc-good', 'v3', () => tarGz(pluginEntries(ACC_GOOD_FILES, 'acc-good-v3')));
    const text = 'We encountered an internal error. Please try again.';
    s3.on(PutObjectCommand).rejects(new S3ServiceException({ name: 'InternalError', $fault: 'server', $metadata: { httpStatusCode: 500 }, message: text }));
    const state = await newState({ ...accepted, source: 'github://acme/acc-good#v3' });

    await expect(stage()(state)).rejects.toMatchObject({ name: 'PlatformUnavailable', code: 'platform_unavailable', transient: true });

    const op = await getOperation(t.db, state.operationId);
    expect(op?.steps).toEqual([expect.objectContaining({ name: 'Stage', status: 'FAILED', error: expect.objectContaining({ code: 'platform_unavailable' }) })]);
    expect(JSON.stringify(op)).not.toContain(text);
  });

  it('uploads nothing when the request sha256 does not match', async () => {
    codeload.set('acme/acc-good', 'v2', () => tarGz(pluginEntries(ACC_GOOD_FILES, 'acc-good-v2')));
    const attempt = stage()(await newState({ ...accepted, source: 'github://acme/acc-good#v2', expectedSha256: 'f'.repeat(64) }));
    await expect(attempt).rejects.toMatchObject({ name: 'IntegrityMismatch', code: 'integrity_mismatch' });
    expect(s3).not.toHaveReceivedCommand(PutObjectCommand);
  });
});

describe('CheckAllowlist', () => {
  it('refuses a plugin missing from a non-empty allowlist with the documented message', async () => {
    await replaceAllowlist(t.db, workspace.orgId, ['other'], 'test');
    await expect(checkAllowlistStep({ ports: postgresStepPorts(t.db) })(await newState())).rejects.toMatchObject({
      name: 'PluginNotAllowed',
      code: 'plugin_not_allowed',
      message: 'plugin "demo" is not in the org allowlist',
    });
    await replaceAllowlist(t.db, workspace.orgId, [], 'test');
  });

  it('fails closed when the database is unreachable', async () => {
    const state = await newState();
    const down = createDb({ connectionString: 'postgres://postgres@127.0.0.1:1/none' });
    const step = checkAllowlistStep({ ports: postgresStepPorts(down) });
    await expect(step(state)).rejects.toMatchObject({ name: 'PlatformUnavailable', transient: true });
    await down.end();
  });
});

describe('Deliver', () => {
  it('waits its turn: another operation holding the workspace makes it WorkspaceBusy before any host call', async () => {
    // Operations earlier tests left RUNNING on this workspace would be ahead of both in its queue.
    await t.db.query(`UPDATE plugin_operations SET status = 'SUCCEEDED' WHERE workspace_id = $1 AND status = 'RUNNING'`, [workspace.id]);
    const holder = await newState();
    const state = await newState();
    expect(await acquireLease(t.db, workspace.id, holder.operationId, 60_000)).toBe(true);
    const attempt = deliverStep(hostDeps())(state);
    await expect(attempt).rejects.toMatchObject({ name: 'WorkspaceBusy', transient: true });
    expect(ssm).not.toHaveReceivedCommand(SendCommandCommand);
    await t.db.query('DELETE FROM workspace_leases');
  });
});

describe('Restart', () => {
  const hostOk = () => {
    ssm.on(DescribeInstanceInformationCommand).resolves({ InstanceInformationList: [{ InstanceId: workspace.instanceId!, PingStatus: 'Online' }] });
    ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'c-1' } });
    ssm.on(GetCommandInvocationCommand).resolves({ Status: 'Success', ResponseCode: 0, StandardOutputContent: 'MOLECULE_RESULT {"ok":true}\n' });
  };

  it('is skipped for restart: false, and when only SKILL.md files changed, without touching the host', async () => {
    hostOk();
    const notWanted = await restartStep(hostDeps())(await newState({ ...delivered(false), restart: false }));
    const skillsOnly = await restartStep(hostDeps())(await newState(delivered(true)));
    expect([notWanted.restarted, skillsOnly.restarted]).toEqual([false, false]);
    expect(ssm).not.toHaveReceivedCommand(SendCommandCommand);
    const op = await getOperation(t.db, skillsOnly.operationId);
    expect(op?.steps).toEqual([expect.objectContaining({ name: 'Restart', status: 'SKIPPED' })]);
  });

  it('restarts even a SKILL.md-only change when the restart of an earlier change failed, once', async () => {
    hostOk();
    s3.on(DeleteObjectCommand).resolves({});
    const failed = await newState({ ...delivered(false), error: { Error: 'DeliveryFailed', Cause: '{}' } });
    await recordFailureStep({ ports: postgresStepPorts(t.db), s3: new S3Client({ region: 'us-east-1' }), ...keepsTarballsInMemory() })(failed);
    const skillsOnly = () => newState(delivered(true));
    expect((await restartStep(hostDeps())(await skillsOnly())).restarted).toBe(true);
    expect((await restartStep(hostDeps())(await skillsOnly())).restarted).toBe(false);
    expect(ssm).toHaveReceivedCommandTimes(SendCommandCommand, 1);
  });

  it('runs the restart command with the workspace id quoted', async () => {
    hostOk();
    const state = await restartStep(hostDeps())(await newState(delivered(false)));
    expect(state.restarted).toBe(true);
    const sent = ssm.commandCalls(SendCommandCommand)[0]!.args[0].input;
    expect(sent.InstanceIds).toEqual([workspace.instanceId]);
    // The script travels single-quoted inside `bash -c '...'`; undo that layer to read it.
    const script = /bash -c '([\s\S]*)' [\w-]+$/.exec(sent.Parameters!.commands![0]!)![1]!.replaceAll("'\\''", "'");
    expect(script).toContain("docker restart ws-'ws-steps'");
  });
});

describe('step contracts', () => {
  it('fails a step given a state of another phase as invalid_request naming the missing fields, before any host call', async () => {
    const state = await newState(accepted);
    const attempt = deliverStep(hostDeps())(state);
    await expect(attempt).rejects.toMatchObject({
      name: 'InvalidRequest',
      code: 'invalid_request',
      message: expect.stringMatching(/^the Deliver step cannot take this workflow state \(phase: .*staged/),
    });
    expect(ssm).not.toHaveReceivedCommand(SendCommandCommand);
    expect((await getOperation(t.db, state.operationId))?.steps).toEqual([expect.objectContaining({ name: 'Deliver', status: 'FAILED' })]);
  });

  it('refuses an uninstall whose plugin is not a plugin name, and a document without an operation', async () => {
    const attempt = removeStep({ ...hostDeps(), config: { leaseTtlMs: 60_000 } })(await newState({ ...accepted, kind: 'uninstall', plugin: '../etc' }));
    await expect(attempt).rejects.toMatchObject({ name: 'InvalidRequest', message: expect.stringContaining('plugin: must be a plugin name') });
    await expect(recordStep({ ports: postgresStepPorts(t.db), ...keepsTarballsInMemory() })({ kind: 'install' })).rejects.toMatchObject({
      name: 'InvalidRequest',
      message: expect.stringContaining('operationId'),
    });
  });

  it.each([
    [
      'an S3 NotFound, a name we use too',
      'DeliveryFailed',
      'delivery_failed',
      new NotFound({ $metadata: { httpStatusCode: 404 }, message: 'raw AWS text: NotFound' }),
    ],
    [
      'a throttled AWS call',
      'PlatformUnavailable',
      'platform_unavailable',
      new SFNServiceException({ name: 'ThrottlingException', $fault: 'client', $metadata: { httpStatusCode: 400 }, message: 'raw AWS text: Rate exceeded' }),
    ],
    ['a bug', 'DeliveryFailed', 'delivery_failed', new TypeError("raw text: Cannot read properties of undefined (reading 'x')")],
  ])('lets nothing but our own errors leave a step: %s fails it as %s', async (_label, name, code, thrown) => {
    const state = await newState(accepted);
    const step = defineStep('Stage', postgresStepPorts(t.db).operations, z.object({ operationId: z.string() }), async () => {
      throw thrown;
    });

    const err = (await step(state).catch((e: unknown) => e)) as AppError;

    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({ name, code, cause: thrown });
    expect(err.message).not.toContain('raw');
    // As Step Functions hands the failure to RecordFailure: the Lambda runtime's errorType and errorMessage.
    await recordFailureStep({ ports: postgresStepPorts(t.db), s3: new S3Client({ region: 'us-east-1' }), ...keepsTarballsInMemory() })({
      ...state,
      error: { Error: err.name, Cause: JSON.stringify({ errorType: err.name, errorMessage: err.message, trace: [] }) },
    });
    const op = await getOperation(t.db, state.operationId);
    expect(op).toMatchObject({ status: 'FAILED', error: { code } });
    expect(JSON.stringify(op)).not.toContain('raw');
  });

  it('records only what Restart has finished with: an install is written, an uninstall forgotten', async () => {
    const install = await newState({ ...delivered(false), phase: 'restarted', restarted: true });
    await recordStep({ ports: postgresStepPorts(t.db), ...keepsTarballsInMemory() })(install);
    expect(await getInstalled(t.db, workspace.id, 'demo')).toMatchObject({ version: '1.0.0', source: 'local://demo' });
    expect(await getOperation(t.db, install.operationId)).toMatchObject({ status: 'SUCCEEDED' });

    await expect(recordStep({ ports: postgresStepPorts(t.db), ...keepsTarballsInMemory() })(await newState(delivered(false)))).rejects.toMatchObject({
      name: 'InvalidRequest',
    });
    await recordStep({ ports: postgresStepPorts(t.db), ...keepsTarballsInMemory() })(
      await newState({ kind: 'uninstall', phase: 'restarted', plugin: 'demo', restarted: false }),
    );
    expect(await getInstalled(t.db, workspace.id, 'demo')).toBeNull();
  });
});

describe('RecordFailure', () => {
  it('closes the operation with the documented code, removes the staged object and frees the workspace', async () => {
    s3.on(DeleteObjectCommand).resolves({});
    const state = await newState();
    await acquireLease(t.db, workspace.id, state.operationId, 60_000);
    const thrown = new InvalidArchive('archive entry "../x" escapes the plugin root');
    await recordFailureStep({ ports: postgresStepPorts(t.db), s3: new S3Client({ region: 'us-east-1' }), ...keepsTarballsInMemory() })({
      ...state,
      error: { Error: thrown.name, Cause: JSON.stringify({ errorType: thrown.name, errorMessage: thrown.message }) },
    });
    expect(await getOperation(t.db, state.operationId)).toMatchObject({
      status: 'FAILED',
      error: { code: 'invalid_archive', httpStatus: 422, message: 'archive entry "../x" escapes the plugin root' },
    });
    expect(s3).toHaveReceivedCommandExactlyOnceWith(DeleteObjectCommand, { Bucket: 'staging', Key: state.staged.key });
    expect(await acquireLease(t.db, workspace.id, 'next-op', 60_000)).toBe(true);
    await t.db.query('DELETE FROM workspace_leases');
  });

  it('marks a failed uninstall so the cleanup retries it', async () => {
    await upsertInstalled(t.db, {
      workspaceId: workspace.id,
      name: 'sticky',
      version: null,
      source: 'local://sticky',
      sha256: 'b'.repeat(64),
      skills: [],
      runtimes: [],
      uninstallAt: null,
    });
    const state = await newState({ ...accepted, kind: 'uninstall', plugin: 'sticky', error: { Error: 'DeliveryFailed', Cause: '{}' } });
    await recordFailureStep({ ports: postgresStepPorts(t.db), s3: new S3Client({ region: 'us-east-1' }), ...keepsTarballsInMemory() })(state);
    const rows = await t.db.query("SELECT uninstall_failed_at FROM workspace_plugins WHERE plugin_name = 'sticky'");
    expect(rows.rows[0].uninstall_failed_at).not.toBeNull();
    expect(s3).not.toHaveReceivedCommand(DeleteObjectCommand);
  });

  it('records the plugin the host already has when the restart after its delivery failed', async () => {
    s3.on(DeleteObjectCommand).resolves({});
    const state = await newState({
      source: 'local://demo',
      ...delivered(false),
      error: { Error: 'DeliveryFailed', Cause: JSON.stringify({ errorMessage: 'the workspace restart command failed' }) },
    });
    await recordFailureStep({ ports: postgresStepPorts(t.db), s3: new S3Client({ region: 'us-east-1' }), ...keepsTarballsInMemory() })(state);
    expect(await getOperation(t.db, state.operationId)).toMatchObject({ status: 'FAILED', error: { code: 'delivery_failed' } });
    expect(await getInstalled(t.db, workspace.id, 'demo')).toMatchObject({ version: '1.0.0', sha256: 'a'.repeat(64), source: 'local://demo' });
  });

  it('owes no restart when Record failed after Restart ran, and still records the delivered plugin', async () => {
    s3.on(DeleteObjectCommand).resolves({});
    await setRestartPending(t.db, workspace.id, false);
    const state = await newState({ ...delivered(false), phase: 'restarted', restarted: true, error: { Error: 'PlatformUnavailable', Cause: '{}' } });
    await recordFailureStep({ ports: postgresStepPorts(t.db), s3: new S3Client({ region: 'us-east-1' }), ...keepsTarballsInMemory() })(state);
    expect(await isRestartPending(t.db, workspace.id)).toBe(false);
    expect(await getInstalled(t.db, workspace.id, 'demo')).toMatchObject({ sha256: 'a'.repeat(64) });
    expect(await getOperation(t.db, state.operationId)).toMatchObject({ status: 'FAILED', error: { code: 'platform_unavailable', httpStatus: 503 } });
  });

  it('closes the operation of a state no step could take, such as an unknown kind', async () => {
    const state = await newState({
      ...accepted,
      kind: 'upgrade',
      error: { Error: 'InvalidRequest', Cause: JSON.stringify({ errorMessage: 'unknown operation kind' }) },
    });
    await acquireLease(t.db, workspace.id, state.operationId, 60_000);
    await recordFailureStep({ ports: postgresStepPorts(t.db), s3: new S3Client({ region: 'us-east-1' }), ...keepsTarballsInMemory() })(state);
    expect(await getOperation(t.db, state.operationId)).toMatchObject({
      status: 'FAILED',
      error: { code: 'invalid_request', message: 'unknown operation kind' },
    });
    expect(await acquireLease(t.db, workspace.id, 'next-op', 60_000)).toBe(true);
    await t.db.query('DELETE FROM workspace_leases');
  });

  it('forgets a plugin the host no longer has when the restart after its removal failed', async () => {
    await upsertInstalled(t.db, {
      workspaceId: workspace.id,
      name: 'gone',
      version: null,
      source: 'local://gone',
      sha256: 'c'.repeat(64),
      skills: [],
      runtimes: [],
      uninstallAt: null,
    });
    const state = await newState({ kind: 'uninstall', phase: 'removed', plugin: 'gone', staged: undefined, error: { Error: 'DeliveryFailed', Cause: '{}' } });
    await recordFailureStep({ ports: postgresStepPorts(t.db), s3: new S3Client({ region: 'us-east-1' }), ...keepsTarballsInMemory() })(state);
    expect(await getInstalled(t.db, workspace.id, 'gone')).toBeNull();
  });
});

describe('the scheduled cleanup', () => {
  it('starts one uninstall execution per due row and reports what it started', async () => {
    await t.db.query('DELETE FROM workspace_plugins');
    await upsertInstalled(t.db, {
      workspaceId: workspace.id,
      name: 'expiring',
      version: null,
      source: 'local://expiring',
      sha256: 'c'.repeat(64),
      skills: [],
      runtimes: [],
      uninstallAt: new Date(Date.now() - 1000).toISOString(),
    });
    await t.db.query("UPDATE plugin_operations SET status = 'SUCCEEDED' WHERE status = 'RUNNING'");
    sfn.on(StartExecutionCommand).resolves({ executionArn: 'arn:exec:cleanup', startDate: new Date() });
    const summary = await runCleanup({ db: t.db, workflow: sfnStarter(new SFNClient({ region: 'us-east-1' }), 'arn:m'), log: logger, batch: 10 });
    expect(summary.started).toEqual([expect.objectContaining({ workspaceId: workspace.id, name: 'expiring', reason: 'uninstall_due' })]);
    const input = JSON.parse(sfn.commandCalls(StartExecutionCommand)[0]!.args[0].input.input!);
    expect(input).toMatchObject({ kind: 'uninstall', plugin: 'expiring', workspace: { id: workspace.id } });
    expect(await getInstalled(t.db, workspace.id, 'expiring')).not.toBeNull();
  });
});

it('keeps error classes distinguishable by name after construction', () => {
  expect(new InvalidArchive('x')).toBeInstanceOf(AppError);
  expect(new InvalidArchive('x').name).toBe('InvalidArchive');
});
