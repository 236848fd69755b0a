import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';
import { migrate } from '../../../lambdas/store/migrate.js';
import { getWorkspace, orgExists, upsertWorkspace } from '../../../lambdas/store/workspaces.js';
import { findToken, mintToken, revokeToken } from '../../../lambdas/store/tokens.js';
import { replaceAllowlist } from '../../../lambdas/store/allowlist.js';
import {
  createOperation,
  finishOperation,
  getOperation,
  listOperations,
  setFailing,
  setStaged,
  stepEnded,
  stepStarted,
} from '../../../lambdas/store/operations.js';
import {
  cleanupCandidates,
  deleteInstalled,
  listInstalled,
  markUninstallFailed,
  scheduleUninstall,
  upsertInstalled,
} from '../../../lambdas/store/installed.js';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await t?.close();
});

const newOp = (id: string, workspaceId: string, idempotencyKey: string | null = null, requestHash: string | null = 'h1') => ({
  id,
  workspaceId,
  orgId: 'org-a',
  kind: 'install' as const,
  plugin: null,
  source: 'local://demo',
  sha256: null,
  idempotencyKey,
  requestHash,
  actorPrefix: 'mpd_o_abc',
  executionArn: null,
});

describe('migrations', () => {
  it('are idempotent: a second run applies nothing', async () => {
    expect(await migrate(t.url)).toEqual([]);
  });
});

describe('workspaces', () => {
  it('creates the org with its first workspace and updates on a second upsert', async () => {
    const first = await upsertWorkspace(t.db, 'ws-1', { orgId: 'org-a', runtime: 'claude-code', instanceId: 'i-0123456789abcdef0' });
    expect(first.created).toBe(true);
    expect(await orgExists(t.db, 'org-a')).toBe(true);
    const second = await upsertWorkspace(t.db, 'ws-1', { orgId: 'org-a', runtime: 'hermes', transport: 'ssm' });
    expect(second.created).toBe(false);
    expect(await getWorkspace(t.db, 'ws-1')).toMatchObject({ runtime: 'hermes', transport: 'ssm', instanceId: null });
    expect(await getWorkspace(t.db, 'nope')).toBeNull();
  });
});

describe('tokens', () => {
  it('stores only a hash, finds a live token and stops finding it once revoked', async () => {
    await upsertWorkspace(t.db, 'ws-tok', { orgId: 'org-a', runtime: 'claude-code' });
    const { token, prefix } = await mintToken(t.db, 'workspace', { orgId: 'org-a', workspaceId: 'ws-tok' });
    const stored = await t.db.query('SELECT token_hash, prefix FROM auth_tokens WHERE prefix = $1', [prefix]);
    expect(stored.rows[0].token_hash).not.toContain(token);
    expect(token.startsWith(prefix)).toBe(true);
    expect(await findToken(t.db, token)).toEqual({ kind: 'workspace', prefix, orgId: 'org-a', workspaceId: 'ws-tok' });
    const used = await t.db.query('SELECT last_used_at FROM auth_tokens WHERE prefix = $1', [prefix]);
    expect(used.rows[0].last_used_at).not.toBeNull();
    expect(await revokeToken(t.db, token)).toBe(true);
    expect(await findToken(t.db, token)).toBeNull();
  });
});

describe('operations', () => {
  it('returns the existing operation for a repeated idempotency key', async () => {
    await upsertWorkspace(t.db, 'ws-op', { orgId: 'org-a', runtime: 'claude-code' });
    const a = await createOperation(t.db, newOp('op-1', 'ws-op', 'key-1'));
    const b = await createOperation(t.db, newOp('op-2', 'ws-op', 'key-1'));
    expect(a.created).toBe(true);
    expect(b).toMatchObject({ created: false, requestHash: 'h1', operation: { operationId: 'op-1' } });
    const other = await createOperation(t.db, newOp('op-5', 'ws-op', 'key-1', 'h2'));
    expect(other).toMatchObject({ created: false, requestHash: 'h1', operation: { operationId: 'op-1' } });
    const c = await createOperation(t.db, newOp('op-3', 'ws-op'));
    const d = await createOperation(t.db, newOp('op-4', 'ws-op'));
    expect([c.created, d.created]).toEqual([true, true]);
  });

  it('records nothing past the org cap, counted in the same statement, while replays and other orgs go on', async () => {
    await upsertWorkspace(t.db, 'ws-cap', { orgId: 'org-cap', runtime: 'claude-code' });
    await upsertWorkspace(t.db, 'ws-cap-other', { orgId: 'org-cap-other', runtime: 'claude-code' });
    const capped = (id: string, workspaceId = 'ws-cap', key: string | null = null) => ({
      ...newOp(id, workspaceId, key),
      orgId: workspaceId === 'ws-cap' ? 'org-cap' : 'org-cap-other',
      maxInFlightForOrg: 2,
    });
    expect((await createOperation(t.db, capped('cap-1', 'ws-cap', 'cap-key'))).created).toBe(true);
    expect((await createOperation(t.db, capped('cap-2'))).created).toBe(true);
    expect(await createOperation(t.db, capped('cap-3'))).toEqual({ created: false, refused: 'org_at_capacity', inFlight: 2 });
    expect(await getOperation(t.db, 'cap-3')).toBeNull();
    // A retried request at the cap is still answered with its operation.
    expect(await createOperation(t.db, capped('cap-4', 'ws-cap', 'cap-key'))).toMatchObject({ created: false, operation: { operationId: 'cap-1' } });
    expect((await createOperation(t.db, capped('cap-other', 'ws-cap-other'))).created).toBe(true);
    await finishOperation(t.db, 'cap-2', 'SUCCEEDED');
    expect((await createOperation(t.db, capped('cap-5'))).created).toBe(true);
  });

  it('joins an uninstall to the one of the same plugin already running on the workspace, racing or not', async () => {
    await upsertWorkspace(t.db, 'ws-un', { orgId: 'org-a', runtime: 'claude-code' });
    const uninstall = (id: string, plugin: string, workspaceId = 'ws-un') => ({ ...newOp(id, workspaceId), kind: 'uninstall' as const, plugin });
    const raced = await Promise.all(['un-1', 'un-2', 'un-3'].map((id) => createOperation(t.db, uninstall(id, 'lint'))));
    expect(raced.filter((r) => r.created)).toHaveLength(1);
    const runningId = raced.find((r) => r.created)!.operation!.operationId;
    for (const other of raced.filter((r) => !r.created)) expect(other).toMatchObject({ joined: 'uninstall_running', operation: { operationId: runningId } });
    // Another plugin, or an install of the same one, is an operation of its own.
    expect((await createOperation(t.db, uninstall('un-other', 'docs'))).created).toBe(true);
    expect((await createOperation(t.db, { ...newOp('in-lint', 'ws-un'), plugin: 'lint' })).created).toBe(true);
    await finishOperation(t.db, runningId, 'SUCCEEDED');
    expect((await createOperation(t.db, uninstall('un-4', 'lint'))).created).toBe(true);
  });

  it('tracks steps once each and finishes only a running operation', async () => {
    await createOperation(t.db, newOp('op-steps', 'ws-op'));
    await stepStarted(t.db, 'op-steps', 'Stage');
    await stepEnded(t.db, 'op-steps', 'Stage', 'SUCCEEDED');
    await stepStarted(t.db, 'op-steps', 'Deliver');
    await stepStarted(t.db, 'op-steps', 'Deliver');
    await stepEnded(t.db, 'op-steps', 'Deliver', 'FAILED');
    await finishOperation(t.db, 'op-steps', 'FAILED', { code: 'delivery_failed', message: 'x', httpStatus: 502 });
    await finishOperation(t.db, 'op-steps', 'SUCCEEDED');
    const op = await getOperation(t.db, 'op-steps');
    expect(op?.status).toBe('FAILED');
    expect(op?.error?.code).toBe('delivery_failed');
    expect(op?.steps.map((s) => [s.name, s.status])).toEqual([
      ['Stage', 'SUCCEEDED'],
      ['Deliver', 'FAILED'],
    ]);
    expect(op?.steps[0]?.endedAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    expect(op?.steps[0]?.startedAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  });

  it('closes the finishing step with the operation, so no finished operation shows a running step', async () => {
    await createOperation(t.db, newOp('op-finish', 'ws-op'));
    await stepStarted(t.db, 'op-finish', 'Record');
    await finishOperation(t.db, 'op-finish', 'SUCCEEDED');
    const finished = await getOperation(t.db, 'op-finish');
    expect(finished?.steps.map((s) => [s.name, s.status])).toEqual([['Record', 'SUCCEEDED']]);
    expect(finished?.steps[0]?.endedAt).toBeTruthy();
    await stepEnded(t.db, 'op-finish', 'Record', 'FAILED');
    expect((await getOperation(t.db, 'op-finish'))?.steps[0]?.status).toBe('SUCCEEDED');
  });

  it("keeps the context a failing step recorded when the operation closes with that step's code, and only then", async () => {
    const refused = {
      code: 'signature_invalid' as const,
      message: 'the signature is for namespace "git", not "molecule-plugin"',
      httpStatus: 422,
      reason: 'wrong_namespace',
      fingerprint: 'SHA256:abc',
      statement: `molecule-plugin demo 1.0.0 ${'1'.repeat(64)} ${'0'.repeat(64)}`,
    };
    // As RecordFailure rebuilds it from Step Functions' {Error, Cause}: the code and the message only.
    const fromCause = { code: refused.code, message: refused.message, httpStatus: 422 };
    await createOperation(t.db, newOp('op-signed', 'ws-op'));
    await setFailing(t.db, 'op-signed', refused);
    expect((await getOperation(t.db, 'op-signed'))?.error).toBeUndefined();
    await finishOperation(t.db, 'op-signed', 'FAILED', fromCause, 'RecordFailure');
    expect((await getOperation(t.db, 'op-signed'))?.error).toEqual(refused);

    await createOperation(t.db, newOp('op-other', 'ws-op'));
    await setFailing(t.db, 'op-other', refused);
    await finishOperation(t.db, 'op-other', 'FAILED', { code: 'delivery_failed', message: 'the operation failed', httpStatus: 502 });
    expect((await getOperation(t.db, 'op-other'))?.error).toEqual({ code: 'delivery_failed', message: 'the operation failed', httpStatus: 502 });
  });

  it('records the signer Stage verified on the operation', async () => {
    await createOperation(t.db, newOp('op-signer', 'ws-op'));
    const signer = { principal: 'alice@example.com', fingerprint: 'SHA256:abc' };
    await setStaged(t.db, 'op-signer', { plugin: 'demo', sha256: '1'.repeat(64), warnings: [], files: [], signer });
    expect((await getOperation(t.db, 'op-signer'))?.signer).toEqual(signer);
    await setStaged(t.db, 'op-signer', { plugin: 'demo', sha256: '1'.repeat(64), warnings: [], files: [] });
    expect((await getOperation(t.db, 'op-signer'))?.signer).toBeUndefined();
  });

  it('lists newest first with filters and a limit', async () => {
    const all = await listOperations(t.db, { workspaceId: 'ws-op', limit: 2 });
    expect(all.operations).toHaveLength(2);
    const failed = (await listOperations(t.db, { status: 'FAILED', limit: 50 })).operations;
    expect(failed.map((o) => o.operationId)).toContain('op-steps');
    expect(failed.every((o) => o.status === 'FAILED')).toBe(true);
  });
});

describe('installed plugins and cleanup candidates', () => {
  it('records installs and finds due uninstalls and plugins dropped from a non-empty allowlist', async () => {
    await upsertWorkspace(t.db, 'ws-cl', { orgId: 'org-cl', runtime: 'claude-code' });
    const base = { workspaceId: 'ws-cl', version: '1.0.0', source: 'local://x', sha256: 'a'.repeat(64), skills: [], runtimes: [] };
    await upsertInstalled(t.db, { ...base, name: 'keep', uninstallAt: null });
    await upsertInstalled(t.db, { ...base, name: 'due', uninstallAt: new Date(Date.now() - 1000).toISOString() });
    await upsertInstalled(t.db, { ...base, name: 'later', uninstallAt: new Date(Date.now() + 3_600_000).toISOString() });
    expect((await listInstalled(t.db, 'ws-cl')).map((p) => p.name)).toEqual(['due', 'keep', 'later']);
    expect(await cleanupCandidates(t.db, 10)).toEqual([{ workspaceId: 'ws-cl', name: 'due', reason: 'uninstall_due' }]);

    await replaceAllowlist(t.db, 'org-cl', ['keep', 'due'], 'ops');
    const candidates = await cleanupCandidates(t.db, 10);
    expect(candidates).toContainEqual({ workspaceId: 'ws-cl', name: 'later', reason: 'not_in_allowlist' });
    expect(candidates.map((c) => c.name)).not.toContain('keep');
    expect(await cleanupCandidates(t.db, 1)).toHaveLength(1);

    expect(await scheduleUninstall(t.db, 'ws-cl', 'keep', new Date(0).toISOString())).toBe(true);
    await deleteInstalled(t.db, 'ws-cl', 'due');
    expect((await listInstalled(t.db, 'ws-cl')).map((p) => p.name)).toEqual(['keep', 'later']);
  });

  it('starts a due uninstall on a busy workspace, but never a second uninstall of the same plugin', async () => {
    await upsertWorkspace(t.db, 'ws-busy', { orgId: 'org-busy', runtime: 'claude-code' });
    const row = { workspaceId: 'ws-busy', version: '1', source: 'local://p', sha256: 'e'.repeat(64), skills: [], runtimes: [] };
    await upsertInstalled(t.db, { ...row, name: 'due-a', uninstallAt: new Date(Date.now() - 2000).toISOString() });
    await upsertInstalled(t.db, { ...row, name: 'due-b', uninstallAt: new Date(Date.now() - 1000).toISOString() });
    const due = async () => (await cleanupCandidates(t.db, 100)).filter((c) => c.workspaceId === 'ws-busy').map((c) => c.name);
    const running = (id: string, kind: 'install' | 'uninstall', plugin: string) =>
      createOperation(t.db, { ...newOp(id, 'ws-busy'), orgId: 'org-busy', kind, plugin });

    await running('op-busy-install', 'install', 'other-plugin');
    expect(await due()).toEqual(['due-a', 'due-b']);
    await running('op-busy-uninstall-a', 'uninstall', 'due-a');
    expect(await due()).toEqual(['due-b']);
    await finishOperation(t.db, 'op-busy-uninstall-a', 'FAILED', { code: 'delivery_failed', message: 'x', httpStatus: 502 });
    expect(await due()).toEqual(['due-a', 'due-b']);
    await running('op-busy-install-a', 'install', 'due-a');
    expect(await due()).toEqual(['due-a', 'due-b']);
  });

  it('retries a failed uninstall after 15 minutes, backing off by doubling, and forgets failures on reinstall', async () => {
    await upsertWorkspace(t.db, 'ws-retry', { orgId: 'org-retry', runtime: 'claude-code' });
    const row = { workspaceId: 'ws-retry', name: 'stuck', version: '1', source: 'local://stuck', sha256: 'b'.repeat(64), skills: [], runtimes: [] };
    await upsertInstalled(t.db, { ...row, uninstallAt: new Date(Date.now() - 1000).toISOString() });
    const failedMinutesAgo = (minutes: number) =>
      t.db.query(`UPDATE workspace_plugins SET uninstall_failed_at = now() - make_interval(mins => $1) WHERE workspace_id = 'ws-retry'`, [minutes]);
    const reasons = async () => (await cleanupCandidates(t.db, 100)).filter((c) => c.workspaceId === 'ws-retry').map((c) => c.reason);

    await markUninstallFailed(t.db, 'ws-retry', 'stuck');
    expect(await reasons()).toEqual([]);
    await failedMinutesAgo(16);
    expect(await reasons()).toEqual(['retry_failed_uninstall']);

    await markUninstallFailed(t.db, 'ws-retry', 'stuck');
    await failedMinutesAgo(16);
    expect(await reasons()).toEqual([]);
    await failedMinutesAgo(31);
    expect(await reasons()).toEqual(['retry_failed_uninstall']);

    for (let i = 0; i < 20; i++) await markUninstallFailed(t.db, 'ws-retry', 'stuck');
    await failedMinutesAgo(23 * 60);
    expect(await reasons()).toEqual([]);
    await failedMinutesAgo(24 * 60 + 1);
    expect(await reasons()).toEqual(['retry_failed_uninstall']);

    await upsertInstalled(t.db, { ...row, uninstallAt: null });
    expect(await reasons()).toEqual([]);
  });

  it('lets a new schedule replace a pending retry of a failed uninstall', async () => {
    await upsertWorkspace(t.db, 'ws-resched', { orgId: 'org-resched', runtime: 'claude-code' });
    await upsertInstalled(t.db, {
      workspaceId: 'ws-resched',
      name: 'p',
      version: '1',
      source: 'local://p',
      sha256: 'd'.repeat(64),
      skills: [],
      runtimes: [],
      uninstallAt: null,
    });
    await markUninstallFailed(t.db, 'ws-resched', 'p');
    await t.db.query(`UPDATE workspace_plugins SET uninstall_failed_at = now() - interval '1 hour' WHERE workspace_id = 'ws-resched'`);
    const due = async () => (await cleanupCandidates(t.db, 100)).filter((c) => c.workspaceId === 'ws-resched');
    expect(await due()).toHaveLength(1);
    await scheduleUninstall(t.db, 'ws-resched', 'p', '2098-01-01T00:00:00Z');
    expect(await due()).toEqual([]);
  });
});
