import { keepsTarballsInMemory } from '../../support/operation-fakes.js';
import { S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';
import { FlakyProxy } from '../../support/flaky-proxy.js';
import { createDb, type Db } from '../../../lambdas/store/db.js';
import { upsertWorkspace } from '../../../lambdas/store/workspaces.js';
import { createOperation, getOperation } from '../../../lambdas/store/operations.js';
import { acquireLease } from '../../../lambdas/store/leases.js';
import { recordFailureStep } from '../../../lambdas/workflow/steps/record-failure.js';
import { engineWith, installState, namedError, recordingHandlers } from '../../support/workflow-fixtures.js';
import { postgresStepPorts } from '../../../lambdas/workflow/adapters/postgres.js';

/**
 * RecordFailure on the real workflow definition while PostgreSQL is away: its writes go through a
 * TCP proxy that cuts every connection for a while, as during an RDS failover. The engine's own
 * retry waits are zero here, so only the step's in-function retries can carry it through.
 */
let t: TestDatabase;
let proxy: FlakyProxy;
let viaProxy: Db;
const s3 = mockClient(S3Client);
const OUTAGE_MS = 3_000;

beforeAll(async () => {
  t = await createTestDatabase();
  await upsertWorkspace(t.db, 'ws-1', { orgId: 'org-1', runtime: 'claude-code', instanceId: 'i-0123456789abcdef0' });
  const url = new URL(t.url);
  proxy = new FlakyProxy({ host: url.hostname, port: Number(url.port) });
  url.port = String(await proxy.listen());
  viaProxy = createDb({ connectionString: url.toString(), max: 2 });
});
afterAll(async () => {
  s3.restore();
  await viaProxy?.end();
  await proxy?.close();
  await t?.close();
});

describe('a database outage while RecordFailure closes the operation', () => {
  it('still ends the operation FAILED with its code, and frees the workspace, once the database is back', async () => {
    const operationId = '00000000-0000-4000-8000-000000000001';
    await createOperation(t.db, {
      id: operationId,
      workspaceId: 'ws-1',
      orgId: 'org-1',
      kind: 'install',
      plugin: null,
      source: 'local://hello',
      sha256: null,
      idempotencyKey: null,
      requestHash: null,
      actorPrefix: 'test',
      executionArn: null,
    });
    expect(await acquireLease(t.db, 'ws-1', operationId, 60_000)).toBe(true);
    const recordFailure = recordFailureStep({ ports: postgresStepPorts(viaProxy), s3: new S3Client({ region: 'us-east-1' }), ...keepsTarballsInMemory() });
    const recorder = recordingHandlers({
      Stage: async () => {
        // The database goes away as the step fails, and comes back a few seconds later.
        proxy.outage();
        setTimeout(() => proxy.restore(), OUTAGE_MS);
        throw namedError('InvalidArchive', 'the archive holds a link');
      },
      RecordFailure: (state) => recordFailure(state, { getRemainingTimeInMillis: () => 90_000 }),
    });
    const engine = engineWith(recorder);

    const { executionArn } = engine.startExecution(
      undefined,
      installState({
        operationId,
        workspace: { id: 'ws-1', orgId: 'org-1', runtime: 'claude-code', instanceId: 'i-0123456789abcdef0', transport: 'auto', status: 'online' },
      }),
    );
    const execution = await engine.waitForExecution(executionArn);

    expect(execution).toMatchObject({ status: 'FAILED', error: 'InvalidArchive' });
    expect(proxy.refused).toBeGreaterThan(0);
    expect(await getOperation(t.db, operationId)).toMatchObject({ status: 'FAILED', error: { code: 'invalid_archive' } });
    const { rows } = await t.db.query('SELECT holder FROM workspace_leases WHERE workspace_id = $1', ['ws-1']);
    expect(rows).toEqual([]);
  });
});
