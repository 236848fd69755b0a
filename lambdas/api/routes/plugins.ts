import type * as z from '../../shared/zod.js';
import type { ApiApp } from '../router.js';
import { on, reply, toResponse } from '../router.js';
import { idempotencyKey, parseBody, parseQuery, parseValue } from '../context.js';
import { json, redirect, type ApiResponse } from '../http.js';
import { OperationId, preferWaitSeconds, WorkspaceId } from '../schemas.js';
import type { Accepted, ErrorBody, Installed, Repair, RolledBack, Uninstalled, Verification } from '../contract/responses.js';
import * as routes from '../contract/routes.js';
import { install } from '../../use-cases/install.js';
import { uninstall } from '../../use-cases/uninstall.js';
import { download } from '../../use-cases/download.js';
import { recordPull } from '../../use-cases/record-pull.js';
import { listRevisions, rollback } from '../../use-cases/rollback.js';
import { repair, verify } from '../../use-cases/drift.js';
import { availablePlugins, listInstalledPlugins, operationStatus } from '../../use-cases/queries.js';
import { InvalidPluginName, InvalidRequest, OperationNotFound, WorkspaceNotFound } from '../../shared/errors.js';
import { PluginName, type Operation } from '../../shared/types.js';

/** A workspace id that cannot exist is answered like one that does not. */
export const workspaceIdParam = (id: string) => parseValue(id, WorkspaceId, () => new WorkspaceNotFound(`workspace "${id}" not found`));
const pluginNameParam = (name: string) => parseValue(name, PluginName, () => new InvalidPluginName(`invalid plugin name "${name}"`));
const operationIdParam = (id: string) => parseValue(id, OperationId, () => new OperationNotFound(`operation "${id}" not found`));
const uninstallQuery = (query: Record<string, string>) =>
  parseValue(query, routes.uninstallPlugin.query, () => new InvalidRequest('at must be an ISO-8601 date-time with its offset, such as 2026-12-01T09:00:00Z'));

function statusUrl(op: Operation): string {
  return `/workspaces/${encodeURIComponent(op.workspaceId)}/plugins/operations/${op.operationId}`;
}

const RUNNING_STATUS = {
  install: 'installing',
  uninstall: 'uninstalling',
  rollback: 'rolling_back',
  plan: 'planning',
  verify: 'verifying',
  repair: 'repairing',
} as const;

/** 202 while running; once finished, the seed's synchronous answer (or the failure's status and body). */
function operationAnswer(op: Operation): ApiResponse {
  const headers = { 'x-operation-id': op.operationId };
  if (op.status === 'RUNNING') {
    const accepted: z.input<typeof Accepted> = {
      status: RUNNING_STATUS[op.kind],
      operationId: op.operationId,
      statusUrl: statusUrl(op),
    };
    return json(202, accepted, headers);
  }
  if (op.status === 'FAILED') {
    const error = op.error ?? { code: 'delivery_failed', message: 'the operation failed', httpStatus: 502 };
    const failure: z.input<typeof ErrorBody> = {
      error: error.message,
      code: error.code as z.input<typeof ErrorBody>['code'],
      operationId: op.operationId,
      ...(op.plugin ? { plugin: op.plugin } : {}),
      ...(error.rolledBack !== undefined ? { rolledBack: error.rolledBack } : {}),
      ...(error.output !== undefined ? { output: error.output } : {}),
      ...signatureContext(error),
    };
    return json(error.httpStatus, failure, headers);
  }
  if (op.kind === 'plan' && op.plan) return json(200, op.plan, headers);
  // SPEC §12: the result itself, which carries the operationId.
  if (op.kind === 'verify' && op.verify) return json(200, op.verify satisfies z.input<typeof Verification>, headers);
  if (op.kind === 'repair' && op.repair) return json(200, op.repair satisfies z.input<typeof Repair>, headers);
  if (op.kind === 'rollback') {
    const rolledBack: z.input<typeof RolledBack> = {
      status: 'rolled_back',
      plugin: op.plugin ?? '',
      revision: op.revision ?? 0,
      sha256: op.sha256 ?? '',
      operationId: op.operationId,
    };
    return json(200, rolledBack, headers);
  }
  const finished: z.input<typeof Installed> | z.input<typeof Uninstalled> =
    op.kind === 'install'
      ? { status: 'installed', plugin: op.plugin, source: op.source, sha256: op.sha256, operationId: op.operationId }
      : { status: 'uninstalled', plugin: op.plugin, operationId: op.operationId };
  return json(200, finished, headers);
}

/** signature_invalid's context fields (SPEC §11), as Stage recorded them on the operation. */
function signatureContext(error: NonNullable<Operation['error']>): Partial<z.input<typeof ErrorBody>> {
  return {
    ...(error.reason !== undefined ? { reason: error.reason as z.input<typeof ErrorBody>['reason'] } : {}),
    ...(error.fingerprint !== undefined ? { fingerprint: error.fingerprint } : {}),
    ...(error.statement !== undefined ? { statement: error.statement } : {}),
  };
}

export function registerPluginRoutes(app: ApiApp): void {
  on(app, routes.installPlugin, async (c) => {
    const { req, deps, log } = c.env;
    const principal = await c.env.principal();
    const workspaceId = workspaceIdParam(c.req.param('id'));
    const request = () => parseBody(req, routes.installPlugin.body, deps.config.limits.maxBodyBytes);
    if (principal.kind === 'workspace') {
      // An external agent reporting what it pulled: recorded at once, answered as the seed did.
      const pulled = await recordPull(deps.ports, log, { principal, workspaceId, request });
      return reply(routes.installPlugin, 200, { status: 'installed', plugin: pulled.plugin, source: pulled.source, sha256: pulled.sha256 });
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

  on(app, routes.uninstallPlugin, async (c) => {
    const { req, deps, log } = c.env;
    const principal = await c.env.principal();
    const { at } = uninstallQuery(c.req.query());
    const result = await uninstall(deps.ports, log, {
      principal,
      workspaceId: workspaceIdParam(c.req.param('id')),
      plugin: pluginNameParam(c.req.param('name')),
      ...(at ? { at } : {}),
      idempotencyKey: idempotencyKey(req),
      waitSeconds: preferWaitSeconds(req.headers.prefer),
      maxOperationsPerOrg: deps.config.limits.maxOperationsPerOrg,
    });
    if (result.kind === 'scheduled') return reply(routes.uninstallPlugin, 202, { status: 'scheduled', plugin: result.plugin, uninstallAt: result.uninstallAt });
    return toResponse(operationAnswer(result.operation));
  });

  on(app, routes.rollbackPlugin, async (c) => {
    const { req, deps, log } = c.env;
    const principal = await c.env.principal();
    const operation = await rollback(deps.ports, log, {
      principal,
      workspaceId: workspaceIdParam(c.req.param('id')),
      plugin: pluginNameParam(c.req.param('name')),
      request: () => parseBody(req, routes.rollbackPlugin.body, deps.config.limits.maxBodyBytes, { allowEmpty: true }),
      idempotencyKey: idempotencyKey(req),
      waitSeconds: preferWaitSeconds(req.headers.prefer),
      maxOperationsPerOrg: deps.config.limits.maxOperationsPerOrg,
    });
    return toResponse(operationAnswer(operation));
  });

  on(app, routes.verifyPlugins, async (c) => {
    const { req, deps, log } = c.env;
    const principal = await c.env.principal();
    const operation = await verify(deps.ports, log, {
      principal,
      workspaceId: workspaceIdParam(c.req.param('id')),
      idempotencyKey: idempotencyKey(req),
      waitSeconds: preferWaitSeconds(req.headers.prefer),
      maxOperationsPerOrg: deps.config.limits.maxOperationsPerOrg,
    });
    return toResponse(operationAnswer(operation));
  });

  on(app, routes.repairPlugins, async (c) => {
    const { req, deps, log } = c.env;
    const principal = await c.env.principal();
    const operation = await repair(deps.ports, log, {
      principal,
      workspaceId: workspaceIdParam(c.req.param('id')),
      request: () => parseBody(req, routes.repairPlugins.body, deps.config.limits.maxBodyBytes),
      idempotencyKey: idempotencyKey(req),
      waitSeconds: preferWaitSeconds(req.headers.prefer),
      maxOperationsPerOrg: deps.config.limits.maxOperationsPerOrg,
    });
    return toResponse(operationAnswer(operation));
  });

  on(app, routes.listRevisions, async (c) => {
    const principal = await c.env.principal();
    const plugin = pluginNameParam(c.req.param('name'));
    const revisions = await listRevisions(c.env.deps.ports, { principal, workspaceId: workspaceIdParam(c.req.param('id')), plugin });
    return reply(routes.listRevisions, 200, {
      plugin,
      revisions: revisions.map((r) => ({
        revision: r.revision,
        version: r.version,
        source: r.source,
        sha256: r.sha256,
        files: r.files,
        ...(r.signer ? { signer: r.signer } : {}),
        operationId: r.operationId,
        installedAt: r.installedAt,
        status: r.status,
        kept: r.tarballKept,
      })),
    });
  });

  on(app, routes.listInstalledPlugins, async (c) => {
    const principal = await c.env.principal();
    const installed = await listInstalledPlugins(c.env.deps.ports, { principal, workspaceId: workspaceIdParam(c.req.param('id')) });
    return reply(
      routes.listInstalledPlugins,
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
    );
  });

  on(app, routes.listAvailablePlugins, async (c) => {
    const principal = await c.env.principal();
    return reply(routes.listAvailablePlugins, 200, await availablePlugins(c.env.deps.ports, { principal, workspaceId: workspaceIdParam(c.req.param('id')) }));
  });

  on(app, routes.getWorkspaceOperation, async (c) => {
    const principal = await c.env.principal();
    const operation = await operationStatus(c.env.deps.ports, {
      principal,
      workspaceId: workspaceIdParam(c.req.param('id')),
      operationId: operationIdParam(c.req.param('operationId')),
    });
    return reply(routes.getWorkspaceOperation, 200, operation, { 'x-operation-id': operation.operationId });
  });

  on(app, routes.downloadPlugin, async (c) => {
    const plugin = pluginNameParam(c.req.param('name'));
    const principal = await c.env.principal();
    const { source } = parseQuery(c.req.query(), routes.downloadPlugin.query);
    const pulled = await download(c.env.deps.ports, c.env.log, {
      principal,
      workspaceId: workspaceIdParam(c.req.param('id')),
      plugin,
      ...(source ? { source } : {}),
      budgetMs: c.env.deps.config.limits.downloadBudgetMs,
    });
    if ('pending' in pulled) {
      // Answered inside API Gateway's 30 s; the staging goes on and the retry gets the 302.
      return reply(
        routes.downloadPlugin,
        202,
        { status: 'staging', plugin: pulled.plugin, source: pulled.source, retryAfterSeconds: pulled.retryAfterSeconds },
        { 'retry-after': String(pulled.retryAfterSeconds) },
      );
    }
    return toResponse(
      redirect(pulled.url, {
        'x-plugin-name': pulled.plugin,
        'x-plugin-source': pulled.source,
        'x-plugin-sha256': pulled.sha256,
        // SPEC §11: the armor spans lines, so it travels base64.
        ...(pulled.signature !== undefined ? { 'x-plugin-signature': Buffer.from(pulled.signature, 'utf8').toString('base64') } : {}),
        ...(pulled.signer ? { 'x-plugin-signer': `${pulled.signer.principal} ${pulled.signer.fingerprint}` } : {}),
      }),
    );
  });
}
