import * as z from '../../shared/zod.js';
import type { ApiApp } from '../router.js';
import { toResponse } from '../router.js';
import { idempotencyKey, parseBody, parseValue } from '../context.js';
import { json, redirect, type ApiResponse } from '../http.js';
import { At, InstallBody, OperationId, preferWaitSeconds, WorkspaceId } from '../schemas.js';
import { install } from '../../operations/install.js';
import { uninstall } from '../../operations/uninstall.js';
import { download } from '../../operations/download.js';
import { recordPull } from '../../operations/record-pull.js';
import { availablePlugins, listInstalledPlugins, operationStatus } from '../../operations/queries.js';
import { InvalidPluginName, InvalidRequest, OperationNotFound, WorkspaceNotFound } from '../../shared/errors.js';
import { PluginName, type Operation } from '../../shared/types.js';

/** A workspace id that cannot exist is answered like one that does not. */
export const workspaceIdParam = (id: string) => parseValue(id, WorkspaceId, () => new WorkspaceNotFound(`workspace "${id}" not found`));
const pluginNameParam = (name: string) => parseValue(name, PluginName, () => new InvalidPluginName(`invalid plugin name "${name}"`));
const operationIdParam = (id: string) => parseValue(id, OperationId, () => new OperationNotFound(`operation "${id}" not found`));
const atQuery = (at: string | undefined) =>
  parseValue(at, z.optional(At), () => new InvalidRequest('at must be an ISO-8601 date-time with its offset, such as 2026-12-01T09:00:00Z'));

function statusUrl(op: Operation): string {
  return `/workspaces/${encodeURIComponent(op.workspaceId)}/plugins/operations/${op.operationId}`;
}

/** 202 while running; once finished, the seed's synchronous answer (or the failure's status and body). */
function operationAnswer(op: Operation): ApiResponse {
  const headers = { 'x-operation-id': op.operationId };
  if (op.status === 'RUNNING') {
    return json(202, { status: op.kind === 'install' ? 'installing' : 'uninstalling', operationId: op.operationId, statusUrl: statusUrl(op) }, headers);
  }
  if (op.status === 'FAILED') {
    const error = op.error ?? { code: 'delivery_failed', message: 'the operation failed', httpStatus: 502 };
    return json(
      error.httpStatus,
      { error: error.message, code: error.code, operationId: op.operationId, ...(op.plugin ? { plugin: op.plugin } : {}) },
      headers,
    );
  }
  return op.kind === 'install'
    ? json(200, { status: 'installed', plugin: op.plugin, source: op.source, sha256: op.sha256, operationId: op.operationId }, headers)
    : json(200, { status: 'uninstalled', plugin: op.plugin, operationId: op.operationId }, headers);
}

export function registerPluginRoutes(app: ApiApp): void {
  app.post('/workspaces/:id/plugins', async (c) => {
    const { req, deps, log } = c.env;
    const principal = await c.env.principal();
    const workspaceId = workspaceIdParam(c.req.param('id'));
    const request = () => parseBody(req, InstallBody, deps.config.limits.maxBodyBytes);
    if (principal.kind === 'workspace') {
      // An external agent reporting what it pulled: recorded at once, answered as the seed did.
      const pulled = await recordPull(deps.ports, log, { principal, workspaceId, request });
      return toResponse(json(200, { status: 'installed', plugin: pulled.plugin, source: pulled.source, sha256: pulled.sha256 }));
    }
    const operation = await install(deps.ports, log, {
      principal,
      workspaceId,
      request,
      idempotencyKey: idempotencyKey(req),
      waitSeconds: preferWaitSeconds(req.headers.prefer),
      maxOperationsPerOrg: deps.config.limits.maxOperationsPerOrg,
    });
    return toResponse(operationAnswer(operation));
  });

  app.delete('/workspaces/:id/plugins/:name', async (c) => {
    const { req, deps, log } = c.env;
    const principal = await c.env.principal();
    const at = atQuery(c.req.query('at'));
    const result = await uninstall(deps.ports, log, {
      principal,
      workspaceId: workspaceIdParam(c.req.param('id')),
      plugin: pluginNameParam(c.req.param('name')),
      ...(at ? { at } : {}),
      idempotencyKey: idempotencyKey(req),
      waitSeconds: preferWaitSeconds(req.headers.prefer),
      maxOperationsPerOrg: deps.config.limits.maxOperationsPerOrg,
    });
    return toResponse(
      result.kind === 'scheduled'
        ? json(202, { status: 'scheduled', plugin: result.plugin, uninstallAt: result.uninstallAt })
        : operationAnswer(result.operation),
    );
  });

  app.get('/workspaces/:id/plugins', async (c) => {
    const principal = await c.env.principal();
    const installed = await listInstalledPlugins(c.env.deps.ports, { principal, workspaceId: workspaceIdParam(c.req.param('id')) });
    return toResponse(
      json(
        200,
        installed.map((p) => ({
          name: p.name,
          version: p.version,
          source: p.source,
          sha256: p.sha256,
          installedAt: p.installedAt,
          updatedAt: p.updatedAt,
          uninstallAt: p.uninstallAt,
          installedVia: p.installedVia,
          supported_on_runtime: p.supportedOnRuntime,
        })),
      ),
    );
  });

  app.get('/workspaces/:id/plugins/available', async (c) => {
    const principal = await c.env.principal();
    return toResponse(json(200, await availablePlugins(c.env.deps.ports, { principal, workspaceId: workspaceIdParam(c.req.param('id')) })));
  });

  app.get('/workspaces/:id/plugins/operations/:operationId', async (c) => {
    const principal = await c.env.principal();
    const operation = await operationStatus(c.env.deps.ports, {
      principal,
      workspaceId: workspaceIdParam(c.req.param('id')),
      operationId: operationIdParam(c.req.param('operationId')),
    });
    return toResponse(json(200, operation, { 'x-operation-id': operation.operationId }));
  });

  app.get('/workspaces/:id/plugins/:name/download', async (c) => {
    const plugin = pluginNameParam(c.req.param('name'));
    const principal = await c.env.principal();
    const source = c.req.query('source')?.trim();
    const pulled = await download(c.env.deps.ports, c.env.log, {
      principal,
      workspaceId: workspaceIdParam(c.req.param('id')),
      plugin,
      ...(source ? { source } : {}),
      budgetMs: c.env.deps.config.limits.downloadBudgetMs,
    });
    if ('pending' in pulled) {
      // Answered inside API Gateway's 30 s; the staging goes on and the retry gets the 302.
      return toResponse(
        json(
          202,
          { status: 'staging', plugin: pulled.plugin, source: pulled.source, retryAfterSeconds: pulled.retryAfterSeconds },
          { 'retry-after': String(pulled.retryAfterSeconds) },
        ),
      );
    }
    return toResponse(redirect(pulled.url, { 'x-plugin-name': pulled.plugin, 'x-plugin-source': pulled.source, 'x-plugin-sha256': pulled.sha256 }));
  });
}
