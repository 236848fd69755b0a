import { keepsTarballsInMemory } from '../../support/operation-fakes.js';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { EC2Client } from '@aws-sdk/client-ec2';
import { EC2InstanceConnectClient } from '@aws-sdk/client-ec2-instance-connect';
import { S3Client } from '@aws-sdk/client-s3';
import { GetCommandInvocationCommand, SSMClient } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';
import type { DeliveryDeps } from '../../../lambdas/delivery/index.js';
import { upsertWorkspace } from '../../../lambdas/store/workspaces.js';
import { createOperation, getOperation } from '../../../lambdas/store/operations.js';
import { acquireLease } from '../../../lambdas/store/leases.js';
import { restartStep } from '../../../lambdas/workflow/steps/restart.js';
import { recordFailureStep } from '../../../lambdas/workflow/steps/record-failure.js';
import type { Workspace } from '../../../lambdas/shared/types.js';
import { startEicEmulator, type EicEmulator } from '../../../local/eic-emulator.js';
import { LocalInstances } from '../../../local/instances.js';
import { startSsmEmulator, type SsmEmulator } from '../../../local/ssm-emulator.js';
import { stagedDemo } from '../../support/demo-plugin.js';
import { postgresStepPorts } from '../../../lambdas/workflow/adapters/postgres.js';

/**
 * A host command never outlives the invocation that started it: a restart command that hangs
 * past the step's deadline is cancelled (SSM CancelCommand; over SSH the channel closes and the
 * host's `timeout` stops it), the step fails with a documented code, and RecordFailure frees the
 * workspace. Real PostgreSQL, the SSM and EIC emulators, real bash on emulated instance roots.
 */
const credentials = { accessKeyId: 'x', secretAccessKey: 'x' };
/** The restart hangs: a sleep whose pid the test can look for afterwards. */
const HANGING_RESTART = 'sleep 120 & echo $! > "$MOLECULE_HOST_ROOT/restart.pid"; wait $!';
/**
 * What the invocation has left: its deadline comes long before PLUGIN_DELIVERY_TIMEOUT (5 min),
 * and leaves a loaded CI machine ample time to reach the host and start the hanging restart
 * (the test checks its pid file), after the step's write reserve.
 */
const REMAINING_MS = 15_000;

let t: TestDatabase;
let dir: string;
let instances: LocalInstances;
let ssmEmulator: SsmEmulator;
let eicEmulator: EicEmulator;
let ssm: SSMClient;
let ec2: EC2Client;
let eic: EC2InstanceConnectClient;
const commandsSent: Array<{ name: string; commandId?: string }> = [];
let seq = 0;

beforeAll(async () => {
  t = await createTestDatabase();
  dir = await mkdtemp(join(tmpdir(), 'molecule-deadlines-'));
  instances = new LocalInstances(join(dir, 'instances'));
  ssmEmulator = await startSsmEmulator({ rootDir: instances.rootDir, isRunning: instances.isRunning });
  eicEmulator = await startEicEmulator({ rootDir: instances.rootDir, isRunning: instances.isRunning });
  ssm = new SSMClient({ endpoint: ssmEmulator.url, region: 'us-east-1', credentials });
  ssm.middlewareStack.add(
    (next, context) => async (args) => {
      commandsSent.push({ name: context.commandName ?? '', commandId: (args.input as { CommandId?: string }).CommandId });
      return next(args);
    },
    { step: 'initialize' },
  );
  ec2 = new EC2Client({ endpoint: eicEmulator.ec2Url, region: 'us-east-1', credentials });
  eic = new EC2InstanceConnectClient({ endpoint: eicEmulator.eicUrl, region: 'us-east-1', credentials });
});
afterAll(async () => {
  for (const client of [ssm, ec2, eic]) client?.destroy();
  await ssmEmulator?.close();
  await eicEmulator?.close();
  await rm(dir, { recursive: true, force: true });
  await t?.close();
});

const delivery = (): DeliveryDeps => ({
  ssm,
  config: {
    configDirFor: () => '/configs',
    restartCommand: HANGING_RESTART,
    deliveryTimeoutMs: 300_000,
    healthCommandFor: () => 'true',
    healthTimeoutMs: 4_000,
  },
  ssmPolling: { pollIntervalMs: 20, maxPollIntervalMs: 200 },
  eic: {
    settings: {
      osUser: 'ubuntu',
      sshHost: eicEmulator.sshHost,
      sshPort: eicEmulator.sshPort,
      sshCommand: 'bash -s',
      hostKeyFingerprints: [eicEmulator.hostKeyFingerprint],
    },
    clients: async () => ({ ec2, eic }),
  },
});

/** A delivered install on a fresh operation that holds its workspace's lease, as after Deliver. */
async function deliveredOn(workspace: Workspace) {
  const operationId = `00000000-0000-4000-8000-${String(++seq).padStart(12, '0')}`;
  await createOperation(t.db, {
    id: operationId,
    workspaceId: workspace.id,
    orgId: workspace.orgId,
    kind: 'install',
    plugin: 'demo',
    source: 'local://demo',
    sha256: null,
    idempotencyKey: null,
    requestHash: null,
    actorPrefix: 'test',
    executionArn: null,
  });
  expect(await acquireLease(t.db, workspace.id, operationId, 900_000)).toBe(true);
  return {
    phase: 'delivered',
    operationId,
    kind: 'install',
    workspace,
    source: 'local://demo',
    plugin: 'demo',
    expectedSha256: null,
    restart: true,
    uninstallAt: null,
    staged: stagedDemo(operationId),
    delivered: { transport: workspace.transport === 'eic' ? 'eic' : 'ssm', changedOnlySkillDocs: false },
  };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The hung command's process is gone within `withinMs` (a stopped process takes a moment to be reaped). */
async function expectGone(pid: number, withinMs: number): Promise<void> {
  const until = Date.now() + withinMs;
  while (alive(pid) && Date.now() < until) await sleep(100);
  expect(alive(pid), `pid ${pid} still runs`).toBe(false);
}

describe.each([
  ['ssm', 'i-0d00000000000d001'],
  ['eic', 'i-0d00000000000d002'],
] as const)('a restart that hangs past the deadline, over %s', (transport, instanceId) => {
  it('is cancelled before the step gives up; the step fails as delivery_failed and RecordFailure frees the workspace', async () => {
    await instances.ensure(instanceId);
    const { workspace } = await upsertWorkspace(t.db, `ws-${transport}`, { orgId: 'org-1', runtime: 'claude-code', instanceId, transport });
    const state = await deliveredOn(workspace);
    const endsAt = Date.now() + REMAINING_MS;
    const invocation = { getRemainingTimeInMillis: () => endsAt - Date.now() };
    commandsSent.length = 0;

    const failure = await restartStep({ ports: postgresStepPorts(t.db), delivery: delivery() })(state, invocation).then(
      () => new Error('the restart did not fail'),
      (err: unknown) => err as Error,
    );

    expect(failure).toMatchObject({
      name: 'DeliveryFailed',
      code: 'delivery_failed',
      message: 'timed out waiting for the workspace to finish the delivery command',
    });
    const pidFile = join(instances.rootOf(instanceId), 'restart.pid');
    expect(existsSync(pidFile)).toBe(true);
    const pid = Number(await readFile(pidFile, 'utf8'));
    if (transport === 'ssm') {
      // The step stopped the command itself: the emulator reports it cancelled, not timed out.
      const commandId = commandsSent.find((c) => c.name === 'CancelCommandCommand')?.commandId;
      expect(commandId, 'CancelCommand sent').toBeTruthy();
      await expectGone(pid, 5_000);
      const invocationStatus = await ssm.send(new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: instanceId }));
      expect(invocationStatus.Status).toBe('Cancelled');
    } else {
      // The channel is closed; the host's `timeout` (just past the deadline, inside the invocation) stops the script.
      await expectGone(pid, 15_000);
    }

    const error = { Error: failure.name, Cause: JSON.stringify({ errorType: failure.name, errorMessage: failure.message }) };
    await recordFailureStep({ ports: postgresStepPorts(t.db), s3: new S3Client({ region: 'us-east-1', credentials }), ...keepsTarballsInMemory() })(
      { ...state, error },
      invocation,
    );
    expect(await getOperation(t.db, state.operationId)).toMatchObject({ status: 'FAILED', error: { code: 'delivery_failed' } });
    const { rows } = await t.db.query('SELECT holder FROM workspace_leases WHERE workspace_id = $1', [workspace.id]);
    expect(rows).toEqual([]);
  }, 60_000);
});
