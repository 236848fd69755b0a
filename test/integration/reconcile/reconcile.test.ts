import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SSMClient } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';
import { definition, installState, namedError, recordingHandlers } from '../../support/workflow-fixtures.js';
import { createLocalEngine, type LocalEngine } from '../../../local/sfn/engine.js';
import { startSfnEmulator, type SfnEmulator } from '../../../local/sfn/server.js';
import { startSsmEmulator, type SsmEmulator } from '../../../local/ssm-emulator.js';
import { LocalInstances } from '../../../local/instances.js';
import { loadConfig } from '../../../lambdas/shared/config.js';
import { logger } from '../../../lambdas/shared/logger.js';
import { upsertWorkspace } from '../../../lambdas/store/workspaces.js';
import { createOperation, getOperation } from '../../../lambdas/store/operations.js';
import { getInstalled, upsertInstalled } from '../../../lambdas/store/installed.js';
import { acquireLease } from '../../../lambdas/store/leases.js';
import { pgWorkspaces } from '../../../lambdas/use-cases/adapters/postgres.js';
import { sfnStarter } from '../../../lambdas/use-cases/adapters/sfn.js';
import { reconcileStale, type ReconcileDeps } from '../../../lambdas/use-cases/reconcile.js';
import { hostProber, pgReconcileStore, sfnExecutions } from '../../../lambdas/composition/reconcile.js';
import { deliveryDeps } from '../../../lambdas/composition/steps.js';

/**
 * The reconciler on real parts: PostgreSQL, the local engine behind the Step Functions emulator
 * (DescribeExecution over HTTP, `ExecutionDoesNotExist` for an execution it never ran), and
 * probe.sh run by real bash on an emulated host through the SSM emulator.
 */
const INSTANCE = 'i-0000000000000a701';
const WS = 'ws-reconcile';
const SHA = 'b'.repeat(64);

let t: TestDatabase;
let dir: string;
let instances: LocalInstances;
let ssmEmulator: SsmEmulator;
let sfnEmulator: SfnEmulator;
let engine: LocalEngine;
let ssm: SSMClient;
let sfn: SFNClient;
let release: () => void = () => undefined;
const held = new Promise<void>((resolve) => (release = resolve));

async function operation(id: string, plugin: string | null, executionArn: string | null) {
  await createOperation(t.db, {
    id,
    workspaceId: WS,
    orgId: 'org-rc',
    kind: 'install',
    plugin,
    source: `local://${plugin ?? 'x'}`,
    sha256: null,
    idempotencyKey: null,
    requestHash: null,
    actorPrefix: 'test',
    executionArn,
  });
  await t.db.query("UPDATE plugin_operations SET created_at = now() - interval '2 minutes' WHERE id = $1", [id]);
}

beforeAll(async () => {
  t = await createTestDatabase();
  dir = await mkdtemp(join(tmpdir(), 'molecule-reconcile-'));
  instances = new LocalInstances(join(dir, 'instances'));
  ssmEmulator = await startSsmEmulator({ rootDir: instances.rootDir, isRunning: instances.isRunning });
  const credentials = { accessKeyId: 'x', secretAccessKey: 'x' };
  ssm = new SSMClient({ endpoint: ssmEmulator.url, region: 'us-east-1', credentials });
  // A Stage that is still at work for op-live; op-failed fails in Stage and again in RecordFailure.
  const recorder = recordingHandlers({
    Stage: async (state) => {
      if ((state as { operationId: string }).operationId === 'op-live') await held;
      throw namedError('DeliveryFailed', 'the workspace could not download the staged plugin');
    },
    RecordFailure: async () => {
      throw namedError('Error', 'connection terminated');
    },
  });
  engine = createLocalEngine({ definition, handlers: recorder.handlers, retryIntervalOverrides: {} });
  sfnEmulator = await startSfnEmulator({ engine });
  sfn = new SFNClient({ endpoint: sfnEmulator.url, region: 'us-east-1', credentials });

  await upsertWorkspace(t.db, WS, { orgId: 'org-rc', runtime: 'claude-code', instanceId: INSTANCE, transport: 'ssm' });
  const live = engine.startExecution('op-live', installState({ operationId: 'op-live' })).executionArn;
  const failed = engine.startExecution('op-failed', installState({ operationId: 'op-failed' })).executionArn;
  for (let i = 0; i < 2_000 && engine.describeExecution(failed).status === 'RUNNING'; i++) await new Promise((r) => setTimeout(r, 25));
  const lost = (name: string) => sfnStarter(sfn, engine.stateMachineArn).executionArnFor(name);
  await operation('op-live', 'hello', live);
  await operation('op-failed', null, failed);
  await operation('op-on-host', 'hello', lost('op-on-host'));
  await operation('op-gone', 'gone', lost('op-gone'));

  // The host has `hello` as the lost install left it, with the marker written for that very dir.
  const plugins = join(instances.rootDir, INSTANCE, 'configs', 'plugins');
  await mkdir(join(plugins, 'hello'), { recursive: true });
  await mkdir(join(plugins, '.molecule'), { recursive: true });
  await writeFile(join(plugins, 'hello', 'plugin.yaml'), 'name: hello\nversion: "1.2.0" # new\n');
  const install = { sha256: SHA, source: 'local://hello', version: '1.2.0', skills: ['greet'], runtimes: ['claude-code'] };
  await writeFile(join(plugins, '.molecule', 'hello.json'), JSON.stringify({ dir: String(statSync(join(plugins, 'hello')).ino), install }));
  // The record still names `gone`, which the host no longer has; and the old version of hello.
  await upsertInstalled(t.db, {
    workspaceId: WS,
    name: 'gone',
    version: '1.0.0',
    source: 'local://gone',
    sha256: 'c'.repeat(64),
    skills: [],
    runtimes: [],
    uninstallAt: null,
  });
  await upsertInstalled(t.db, {
    workspaceId: WS,
    name: 'hello',
    version: '1.1.0',
    source: 'local://hello',
    sha256: 'd'.repeat(64),
    skills: [],
    runtimes: [],
    uninstallAt: null,
  });
  expect(await acquireLease(t.db, WS, 'op-gone', 15 * 60_000)).toBe(true);
}, 60_000);

afterAll(async () => {
  release();
  ssm?.destroy();
  sfn?.destroy();
  await sfnEmulator?.close();
  await ssmEmulator?.close();
  await engine?.stop();
  await t?.close();
  await rm(dir, { recursive: true, force: true });
});

function deps(): ReconcileDeps {
  const config = loadConfig({ PLUGIN_SSM_POLL_INTERVAL: '25ms' });
  return {
    store: pgReconcileStore(t.db),
    workspaces: pgWorkspaces(t.db),
    executions: sfnExecutions(sfn),
    workflow: sfnStarter(sfn, engine.stateMachineArn),
    host: hostProber(deliveryDeps(ssm, config, { region: 'us-east-1', httpTimeoutMs: 30_000 })),
    log: logger,
  };
}

describe('a reconcile sweep on the local engine and an emulated host', () => {
  it('leaves the running execution, closes the ended and lost ones, and records what the host has', async () => {
    const summary = await reconcileStale(deps(), { graceMs: 60_000, batch: 2 });

    const byId = Object.fromEntries(summary.results.map((r) => [r.operationId, r]));
    expect(byId['op-live']).toEqual({ operationId: 'op-live', outcome: 'running' });
    expect((await getOperation(t.db, 'op-live'))?.status).toBe('RUNNING');

    // RecordFailure failed too: the execution's own documented error closes it.
    expect(await getOperation(t.db, 'op-failed')).toMatchObject({
      status: 'FAILED',
      error: { code: 'delivery_failed', message: 'the workspace could not download the staged plugin', httpStatus: 502 },
    });
    expect(byId['op-failed']).toMatchObject({ outcome: 'closed', host: 'not-touched' });

    const lostMessage = 'the workflow stopped before the operation finished (its execution no longer exists)';
    expect(await getOperation(t.db, 'op-on-host')).toMatchObject({ status: 'FAILED', error: { code: 'delivery_failed', message: lostMessage } });
    expect(await getInstalled(t.db, WS, 'hello')).toMatchObject({ version: '1.2.0', sha256: SHA, skills: ['greet'] });

    expect(byId['op-gone']).toMatchObject({ outcome: 'closed', host: 'forgotten' });
    expect(await getInstalled(t.db, WS, 'gone')).toBeNull();
    // Its lease went with it: the next operation on the workspace gets it at once.
    expect(await acquireLease(t.db, WS, 'op-next', 15 * 60_000)).toBe(true);
  });
});
