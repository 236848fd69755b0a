import { describe, expect, it } from 'vitest';
import { uninstall } from '../../../lambdas/use-cases/uninstall.js';
import type { Principal } from '../../../lambdas/use-cases/access.js';
import { AppError } from '../../../lambdas/shared/errors.js';
import { logger } from '../../../lambdas/shared/logger.js';
import { fakeClock, fakeInstalled, fakeOperations, fakeWorkflow, fakeWorkspaces, installed, workspace } from '../../support/operation-fakes.js';

const org: Principal = { kind: 'org', orgId: 'acme', prefix: 'mpd_o_aaaaaaaa' };

function setup() {
  const clock = fakeClock();
  const rows = [installed('ws', 'hello')];
  return {
    rows,
    clock,
    workflow: fakeWorkflow(),
    operations: fakeOperations(clock),
    workspaces: fakeWorkspaces([workspace('ws'), workspace('ext', { runtime: 'external' })]),
    installed: fakeInstalled(rows),
  };
}

const at = (text: string) => ({ text, when: new Date(text) });
const run = (deps: ReturnType<typeof setup>, over: Partial<Parameters<typeof uninstall>[2]> = {}) =>
  uninstall(deps, logger, { principal: org, workspaceId: 'ws', plugin: 'hello', idempotencyKey: null, waitSeconds: 0, maxOperationsPerOrg: 50, ...over });
const code = (p: Promise<unknown>) =>
  p.then(
    () => 'resolved',
    (e: unknown) => (e instanceof AppError ? e.code : String(e)),
  );

describe('uninstall', () => {
  it('starts the uninstall workflow with the installed source', async () => {
    const deps = setup();
    const result = await run(deps);
    expect(result).toMatchObject({ kind: 'operation', operation: { kind: 'uninstall', status: 'RUNNING', plugin: 'hello' } });
    expect(deps.workflow.started[0]?.input).toMatchObject({ kind: 'uninstall', plugin: 'hello', source: 'local://hello', restart: true });
  });

  it('answers 404 plugin_not_installed for a plugin that is not there, and refuses external workspaces', async () => {
    const deps = setup();
    expect(await code(run(deps, { plugin: 'nope' }))).toBe('plugin_not_installed');
    expect(await code(run(deps, { workspaceId: 'ext' }))).toBe('external_runtime');
    expect(deps.workflow.started).toHaveLength(0);
  });

  it('schedules a time still ahead and starts a time already past at once', async () => {
    const deps = setup();
    expect(await run(deps, { at: at('2026-06-02T00:00:00+02:00') })).toEqual({ kind: 'scheduled', plugin: 'hello', uninstallAt: '2026-06-01T22:00:00.000Z' });
    expect(deps.installed.scheduled).toEqual([['ws', 'hello', '2026-06-01T22:00:00.000Z']]);
    expect(deps.workflow.started).toHaveLength(0);
    expect((await run(deps, { at: at('2026-06-01T11:59:59Z') })).kind).toBe('operation');
    expect(deps.workflow.started).toHaveLength(1);
  });

  it('refuses a time more than 100 years ahead', async () => {
    const err = await run(setup(), { at: at('2126-06-01T12:00:01Z') }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'invalid_request', message: 'at must be at most 100 years ahead' });
  });

  it('answers a replayed request with its first operation even once the plugin is gone', async () => {
    const deps = setup();
    const first = await run(deps, { idempotencyKey: 'k' });
    deps.rows.length = 0;
    const replay = await run(deps, { idempotencyKey: 'k' });
    expect(replay.kind === 'operation' && first.kind === 'operation' && replay.operation.operationId === first.operation.operationId).toBe(true);
    expect(await code(run(deps, { idempotencyKey: 'k', at: at('2099-01-01T00:00:00Z') }))).toBe('idempotency_key_reused');
    expect(deps.workflow.started).toHaveLength(1);
  });
});
