import { describe, expect, it } from 'vitest';
import { install, type InstallRequest } from '../../../lambdas/use-cases/install.js';
import type { Principal } from '../../../lambdas/use-cases/access.js';
import { AppError } from '../../../lambdas/shared/errors.js';
import { logger } from '../../../lambdas/shared/logger.js';
import { fakeClock, fakeInstalled, fakeOperations, fakeSources, fakeWorkflow, fakeWorkspaces, installed, workspace } from '../../support/operation-fakes.js';

const org: Principal = { kind: 'org', orgId: 'acme', prefix: 'mpd_o_aaaaaaaa' };

function setup(opts: { failStart?: boolean } = {}) {
  const clock = fakeClock();
  const deps = {
    clock,
    workflow: fakeWorkflow({ fail: opts.failStart }),
    operations: fakeOperations(clock),
    workspaces: fakeWorkspaces([
      workspace('ws'),
      workspace('ext', { runtime: 'external' }),
      workspace('other', { orgId: 'globex' }),
      workspace('gone', { status: 'removed' }),
    ]),
    sources: fakeSources,
    installed: fakeInstalled([installed('ws', 'hello')]),
  };
  return deps;
}

const run = (deps: ReturnType<typeof setup>, over: Partial<Parameters<typeof install>[2]> & { body?: InstallRequest } = {}) =>
  install(deps, logger, {
    principal: org,
    workspaceId: 'ws',
    request: () => over.body ?? { source: 'local://hello', restart: true },
    idempotencyKey: null,
    waitSeconds: 0,
    maxOperationsPerOrg: 50,
    ...over,
  });

const code = (p: Promise<unknown>) =>
  p.then(
    () => 'resolved',
    (e: unknown) => (e instanceof AppError ? e.code : String(e)),
  );

describe('install', () => {
  it('refuses an external workspace before it reads the body', async () => {
    const deps = setup();
    let parsed = false;
    const request = () => {
      parsed = true;
      return { source: 'local://hello', restart: true };
    };
    expect(await code(run(deps, { workspaceId: 'ext', request }))).toBe('external_runtime');
    expect(parsed).toBe(false);
  });

  it("answers another org's workspace as missing and refuses a workspace token", async () => {
    const deps = setup();
    expect(await code(run(deps, { workspaceId: 'other' }))).toBe('workspace_not_found');
    expect(await code(run(deps, { principal: { kind: 'workspace', orgId: 'acme', workspaceId: 'ws', prefix: 'mpd_w_aaaaaaaa' } }))).toBe('forbidden');
    expect(await code(run(deps, { workspaceId: 'gone' }))).toBe('workspace_not_found');
    expect(deps.workflow.started).toHaveLength(0);
  });

  it('starts one workflow with the canonical source and the schedule counted from the clock', async () => {
    const deps = setup();
    const op = await run(deps, { body: { source: 'hello', restart: false, uninstallAfter: { months: 0, ms: 7 * 86_400_000 } } });
    expect(op).toMatchObject({ status: 'RUNNING', kind: 'install', source: 'local://hello' });
    expect(deps.workflow.started).toHaveLength(1);
    expect(deps.workflow.started[0]?.input).toMatchObject({
      operationId: op.operationId,
      source: 'local://hello',
      plugin: 'hello',
      restart: false,
      requestedAt: '2026-06-01T12:00:00.000Z',
      uninstallAt: '2026-06-08T12:00:00.000Z',
    });
  });

  it('refuses a schedule more than 100 years ahead, starting nothing', async () => {
    const deps = setup();
    const err = await run(deps, { body: { source: 'hello', restart: true, uninstallAfter: { months: 101 * 12, ms: 0 } } }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'invalid_request', message: 'uninstallAfter must be at most 100 years ahead' });
    expect(deps.workflow.started).toHaveLength(0);
  });

  it('replays a repeated Idempotency-Key and refuses it on a different request', async () => {
    const deps = setup();
    const first = await run(deps, { idempotencyKey: 'k' });
    expect((await run(deps, { idempotencyKey: 'k' })).operationId).toBe(first.operationId);
    expect(await code(run(deps, { idempotencyKey: 'k', body: { source: 'local://other', restart: true } }))).toBe('idempotency_key_reused');
    expect(deps.workflow.started).toHaveLength(1);
  });

  it("carries the request's signature to Stage, and tells a request by it under one Idempotency-Key (SPEC §11)", async () => {
    const deps = setup();
    const signature = '-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----\n';
    const signed = { source: 'local://hello', restart: true, signature };
    const first = await run(deps, { idempotencyKey: 'signed', body: signed });
    expect(deps.workflow.started[0]?.input).toMatchObject({ signature });
    expect((await run(deps, { idempotencyKey: 'signed', body: signed })).operationId).toBe(first.operationId);
    expect(await code(run(deps, { idempotencyKey: 'signed' }))).toBe('idempotency_key_reused');
    expect(await code(run(deps, { idempotencyKey: 'signed', body: { ...signed, signature: `${signature} ` } }))).toBe('idempotency_key_reused');
    await run(deps, { idempotencyKey: 'unsigned' });
    expect(deps.workflow.started.at(-1)?.input).not.toHaveProperty('signature');
  });

  it('closes the operation as failed and answers 503 when the workflow cannot start', async () => {
    const deps = setup({ failStart: true });
    expect(await code(run(deps))).toBe('platform_unavailable');
    expect([...deps.operations.rows.values()].map((o) => o.status)).toEqual(['FAILED']);
  });

  it('with a wait, answers with the operation once it finished, or as it stands when the wait ran out', async () => {
    const deps = setup();
    const finishing = {
      ...deps.operations,
      get: async (id: string) => {
        const row = deps.operations.rows.get(id);
        // The workflow finishes 300 ms (of fake time) after the request.
        return row && deps.clock.now().getTime() - Date.parse(row.createdAt) >= 300 ? { ...row, status: 'SUCCEEDED' as const } : (row ?? null);
      },
    };
    expect(await run({ ...deps, operations: finishing }, { waitSeconds: 5 })).toMatchObject({ status: 'SUCCEEDED' });
    const never = { ...deps.operations, get: async (id: string) => deps.operations.rows.get(id) ?? null };
    const started = deps.clock.now().getTime();
    expect(await run({ ...deps, operations: never }, { waitSeconds: 2 })).toMatchObject({ status: 'RUNNING' });
    expect(deps.clock.now().getTime() - started).toBe(2000);
  });

  describe('origins', () => {
    it('refuses to replace an installed plugin of another origin, naming both sources, and starts nothing', async () => {
      const deps = setup();
      const err = await run(deps, { body: { source: 'github://anyone/hello#v1', restart: true } }).catch((e: unknown) => e);
      expect(err).toMatchObject({
        code: 'plugin_source_conflict',
        status: 409,
        details: { plugin: 'hello', installed_source: 'local://hello', requested_source: 'github://anyone/hello#v1' },
      });
      expect((err as Error).message).toContain('local://hello');
      expect((err as Error).message).toContain('github://anyone/hello#v1');
      expect(deps.workflow.started).toHaveLength(0);
    });

    it('replaces it when the request says replace, and carries that to the workflow', async () => {
      const deps = setup();
      await run(deps, { body: { source: 'github://anyone/hello#v1', restart: true, replace: true } });
      expect(deps.workflow.started[0]?.input).toMatchObject({ source: 'github://anyone/hello#v1', replace: true });
    });

    it('updates a plugin from its own origin without replace', async () => {
      const deps = setup();
      await run(deps, { body: { source: 'local://hello', restart: true } });
      expect(deps.workflow.started[0]?.input).toMatchObject({ source: 'local://hello', replace: false });
    });
  });
});
