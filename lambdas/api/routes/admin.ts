import type { ApiApp } from '../router.js';
import { toResponse } from '../router.js';
import { parseBody, parseValue, requireAdminScope } from '../context.js';
import { json } from '../http.js';
import { TokenPrefix, WorkspaceBody, WorkspaceId } from '../schemas.js';
import { mintOrgToken, mintWorkspaceToken, putWorkspace, revokeToken } from '../../operations/admin.js';
import { InvalidRequest, NotFound } from '../../shared/errors.js';
import { workspaceIdParam } from './plugins.js';

export function registerAdminRoutes(app: ApiApp): void {
  app.put('/admin/workspaces/:id', async (c) => {
    const { req, deps, log } = c.env;
    await requireAdminScope(c.env);
    const id = c.req.param('id');
    const { workspace, created } = await putWorkspace(deps.ports, log, {
      workspaceId: parseValue(id, WorkspaceId, () => new InvalidRequest('workspace id must be 1-128 letters, digits, ".", "_" or "-"')),
      body: parseBody(req, WorkspaceBody, deps.config.limits.maxBodyBytes),
    });
    return toResponse(json(created ? 201 : 200, workspace));
  });

  app.post('/admin/workspaces/:id/tokens', async (c) => {
    await requireAdminScope(c.env);
    const minted = await mintWorkspaceToken(c.env.deps.ports, c.env.log, { workspaceId: workspaceIdParam(c.req.param('id')) });
    return toResponse(json(201, minted));
  });

  app.post('/admin/orgs/:orgId/tokens', async (c) => {
    await requireAdminScope(c.env);
    return toResponse(json(201, await mintOrgToken(c.env.deps.ports, c.env.log, { orgId: c.req.param('orgId') })));
  });

  app.delete('/admin/tokens/:prefix', async (c) => {
    await requireAdminScope(c.env);
    const raw = c.req.param('prefix');
    const prefix = parseValue(raw, TokenPrefix, () => new NotFound(`no live token with prefix "${raw}"`));
    return toResponse(json(200, await revokeToken(c.env.deps.ports, c.env.log, { prefix })));
  });

  app.post('/admin/cleanup/run', async (c) => {
    await requireAdminScope(c.env);
    return toResponse(json(200, await c.env.deps.runCleanup()));
  });
}
