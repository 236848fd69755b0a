import type { Router } from '../router.js';
import type { Ctx, RegistryEntry } from '../context.js';
import { parseBody } from '../context.js';
import { json, redirect, type ApiResponse } from '../http.js';
import { authorizeWorkspace, type WorkspaceAccess } from '../auth.js';
import { requireLiveWorkspace, requireWorkspace } from '../workspace.js';
import { InstallBody, MAX_SCHEDULE_YEARS, parseDateTime, preferWaitSeconds, WORKSPACE_ID_RE } from '../schemas.js';
import { getWorkspace } from '../../store/workspaces.js';
import { getInstalled, listInstalled, scheduleUninstall } from '../../store/installed.js';
import { getOperation } from '../../store/operations.js';
import { requireAllowedPlugin } from '../../store/allowlist.js';
import { replayedOperation, startOperation, waitForOperation } from '../../workflow/operations.js';
import {
  ExternalRuntime, InvalidPluginName, InvalidRequest, NameMismatch, OperationNotFound, PluginNotInstalled,
} from '../../shared/errors.js';
import { addIsoDuration } from '../../shared/iso-duration.js';
import { PLUGIN_NAME_RE, type Operation, type Workspace } from '../../shared/types.js';

const PUSH_HINT = 'external workspaces are not pushed to: fetch the plugin with GET /workspaces/{id}/plugins/{name}/download and unpack it on the agent';

/** Loads the workspace and checks the caller may touch it; `null` only for an admin naming an unknown id. */
async function loadWorkspace(ctx: Ctx, id: string, access: WorkspaceAccess): Promise<Workspace | null> {
  const principal = await ctx.principal();
  const workspace = WORKSPACE_ID_RE.test(id) ? await getWorkspace(ctx.deps.db, id) : null;
  authorizeWorkspace(principal, id, workspace, access);
  return workspace;
}


function statusUrl(op: Operation): string {
  return `/workspaces/${encodeURIComponent(op.workspaceId)}/plugins/operations/${op.operationId}`;
}

/** 202 while running; once finished, the seed's synchronous answer (or the failure's status and body). */
function operationAnswer(op: Operation): ApiResponse {
  if (op.status === 'RUNNING') {
    return json(202, { status: op.kind === 'install' ? 'installing' : 'uninstalling', operationId: op.operationId, statusUrl: statusUrl(op) });
  }
  if (op.status === 'FAILED') {
    const error = op.error ?? { code: 'delivery_failed', message: 'the operation failed', httpStatus: 502 };
    return json(error.httpStatus, { error: error.message, code: error.code, operationId: op.operationId, ...(op.plugin ? { plugin: op.plugin } : {}) });
  }
  return op.kind === 'install'
    ? json(200, { status: 'installed', plugin: op.plugin, source: op.source, sha256: op.sha256, operationId: op.operationId })
    : json(200, { status: 'uninstalled', plugin: op.plugin, operationId: op.operationId });
}

async function answerAfterWait(ctx: Ctx, op: Operation): Promise<ApiResponse> {
  const waitSeconds = preferWaitSeconds(ctx.req.headers.prefer);
  if (waitSeconds === 0 || op.status !== 'RUNNING') return operationAnswer(op);
  const latest = await waitForOperation(ctx.deps.db, op.operationId, waitSeconds * 1000);
  return operationAnswer(latest ?? op);
}

function idempotencyKey(ctx: Ctx): string | null {
  const key = ctx.req.headers['idempotency-key']?.trim();
  if (!key) return null;
  if (key.length > 255) throw new InvalidRequest('Idempotency-Key must be at most 255 characters');
  return key;
}

/** Refuses a schedule further ahead than anyone means (and than the database's dates reach). */
function withinScheduleLimit(when: Date | null, now: Date, what: string): Date {
  const limit = new Date(now.getTime());
  limit.setUTCFullYear(limit.getUTCFullYear() + MAX_SCHEDULE_YEARS);
  if (!when || when.getTime() > limit.getTime()) throw new InvalidRequest(`${what} must be at most ${MAX_SCHEDULE_YEARS} years ahead`);
  return when;
}

const supports = (runtimes: string[], runtime: string) => runtimes.length === 0 || runtimes.includes(runtime);

export function registerPluginRoutes(router: Router<Ctx>): void {
  router.on('POST', '/workspaces/{id}/plugins', async (ctx, { id }) => {
    const found = await loadWorkspace(ctx, id!, 'manage');
    if (found?.runtime === 'external') throw new ExternalRuntime('plugins are not pushed to external workspaces', { hint: PUSH_HINT });
    const body = parseBody(ctx.req, InstallBody, ctx.deps.config.limits.maxBodyBytes);
    const source = ctx.deps.sources.validate(body.source);
    const workspace = requireLiveWorkspace(id!, found);
    const now = ctx.deps.now?.() ?? new Date();
    const uninstallAt = body.uninstallAfter
      ? withinScheduleLimit(addIsoDuration(now, body.uninstallAfter), now, 'uninstallAfter').toISOString()
      : null;
    const principal = await ctx.principal();
    const { operation, created } = await startOperation(
      { db: ctx.deps.db, workflow: ctx.deps.workflow, log: ctx.log },
      {
        kind: 'install', workspace, source: source.canonical, plugin: source.expectedName ?? null, expectedSha256: body.sha256 ?? null,
        restart: body.restart, uninstallAt, idempotencyKey: idempotencyKey(ctx), actorPrefix: principal.prefix,
        asked: { source: source.canonical, sha256: body.sha256 ?? null, restart: body.restart, uninstallAfter: body.uninstallAfter ?? null },
      },
    );
    ctx.log.info(created ? 'install accepted' : 'install replayed', { operationId: operation.operationId, workspaceId: id, source: source.canonical });
    return answerAfterWait(ctx, operation);
  });

  router.on('DELETE', '/workspaces/{id}/plugins/{name}', async (ctx, { id, name }) => {
    const found = await loadWorkspace(ctx, id!, 'manage');
    if (found?.runtime === 'external') {
      throw new ExternalRuntime('plugins are not removed from external workspaces by the platform', {
        hint: 'external workspaces manage their own plugin directory: remove the plugin on the agent',
      });
    }
    if (!PLUGIN_NAME_RE.test(name!)) throw new InvalidPluginName(`invalid plugin name "${name}"`);
    const workspace = requireLiveWorkspace(id!, found);
    const key = idempotencyKey(ctx);
    const at = ctx.req.query.at;
    const asked = at === undefined ? { plugin: name } : { plugin: name, at };
    const replayed = await replayedOperation(ctx.deps.db, workspace.id, key, { kind: 'uninstall', asked });
    if (replayed) return answerAfterWait(ctx, replayed);
    const installed = await getInstalled(ctx.deps.db, workspace.id, name!);
    if (!installed) throw new PluginNotInstalled(`plugin "${name}" is not installed on workspace "${workspace.id}"`);

    if (at !== undefined) {
      const parsed = parseDateTime(at);
      if (!parsed) throw new InvalidRequest('at must be an ISO-8601 date-time with its offset, such as 2026-12-01T09:00:00Z');
      const now = ctx.deps.now?.() ?? new Date();
      const when = withinScheduleLimit(parsed, now, 'at');
      if (when.getTime() > now.getTime()) {
        await scheduleUninstall(ctx.deps.db, workspace.id, name!, when.toISOString());
        return json(202, { status: 'scheduled', plugin: name, uninstallAt: when.toISOString() });
      }
    }
    const principal = await ctx.principal();
    const { operation } = await startOperation(
      { db: ctx.deps.db, workflow: ctx.deps.workflow, log: ctx.log },
      {
        kind: 'uninstall', workspace, source: installed.source, plugin: name!, expectedSha256: null, restart: true,
        uninstallAt: null, idempotencyKey: key, actorPrefix: principal.prefix, asked,
      },
    );
    return answerAfterWait(ctx, operation);
  });

  router.on('GET', '/workspaces/{id}/plugins', async (ctx, { id }) => {
    const workspace = requireWorkspace(id!, await loadWorkspace(ctx, id!, 'read'));
    const installed = await listInstalled(ctx.deps.db, workspace.id);
    return json(
      200,
      installed.map((p) => ({
        name: p.name, version: p.version, source: p.source, sha256: p.sha256, installedAt: p.installedAt,
        updatedAt: p.updatedAt, uninstallAt: p.uninstallAt, supported_on_runtime: supports(p.runtimes, workspace.runtime),
      })),
    );
  });

  router.on('GET', '/workspaces/{id}/plugins/available', async (ctx, { id }) => {
    const workspace = requireWorkspace(id!, await loadWorkspace(ctx, id!, 'read'));
    const entries = await ctx.deps.registry.list();
    return json(200, entries.filter((e: RegistryEntry) => supports(e.runtimes, workspace.runtime)));
  });

  router.on('GET', '/workspaces/{id}/plugins/operations/{operationId}', async (ctx, { id, operationId }) => {
    const workspace = requireWorkspace(id!, await loadWorkspace(ctx, id!, 'manage'));
    const operation = /^[0-9a-f-]{36}$/.test(operationId!) ? await getOperation(ctx.deps.db, operationId!) : null;
    if (!operation || operation.workspaceId !== workspace.id) throw new OperationNotFound(`operation "${operationId}" not found`);
    return json(200, operation);
  });

  router.on('GET', '/workspaces/{id}/plugins/{name}/download', async (ctx, { id, name }) => {
    if (!PLUGIN_NAME_RE.test(name!)) throw new InvalidPluginName(`invalid plugin name "${name}"`);
    const workspace = requireLiveWorkspace(id!, await loadWorkspace(ctx, id!, 'download'));
    const source = ctx.deps.sources.validate(ctx.req.query.source?.trim() || `local://${name}`);
    // The org's allowlist governs what its workspaces pull as much as what is pushed to them.
    await requireAllowedPlugin(ctx.deps.db, workspace.orgId, name!);
    const staged = await ctx.deps.stage(source.raw, ctx.log);
    if (staged.name !== name) {
      throw new NameMismatch(`source resolves to plugin "${staged.name}", not "${name}"`, { resolved_name: staged.name, requested_name: name });
    }
    const url = await ctx.deps.presign(staged.bucket, staged.key, ctx.deps.config.presignTtlSeconds);
    return redirect(url, { 'x-plugin-name': staged.name, 'x-plugin-source': source.raw, 'x-plugin-sha256': staged.sha256 });
  });
}

export { supports as supportsRuntime };
