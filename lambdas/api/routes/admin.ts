import type { ApiApp } from '../router.js';
import { on, reply } from '../router.js';
import { parseBody, parseValue, requireAdminScope } from '../context.js';
import { TokenPrefix, WorkspaceId } from '../schemas.js';
import * as routes from '../contract/routes.js';
import { mintOrgToken, mintWorkspaceToken, putWorkspace, revokeToken } from '../../use-cases/admin.js';
import { InvalidRequest, NotFound } from '../../shared/errors.js';
import { workspaceIdParam } from './plugins.js';

export function registerAdminRoutes(app: ApiApp): void {
  on(app, routes.putWorkspace, async (c) => {
    const { req, deps, log } = c.env;
    await requireAdminScope(c.env);
    const id = c.req.param('id');
    const { workspace, created } = await putWorkspace(deps.ports, log, {
      workspaceId: parseValue(id, WorkspaceId, () => new InvalidRequest('workspace id must be 1-128 letters, digits, ".", "_" or "-"')),
      body: parseBody(req, routes.putWorkspace.body, deps.config.limits.maxBodyBytes),
    });
    return reply(routes.putWorkspace, created ? 201 : 200, workspace);
  });

  on(app, routes.mintWorkspaceToken, async (c) => {
    await requireAdminScope(c.env);
    const minted = await mintWorkspaceToken(c.env.deps.ports, c.env.log, { workspaceId: workspaceIdParam(c.req.param('id')) });
    return reply(routes.mintWorkspaceToken, 201, minted);
  });

  on(app, routes.mintOrgToken, async (c) => {
    await requireAdminScope(c.env);
    return reply(routes.mintOrgToken, 201, await mintOrgToken(c.env.deps.ports, c.env.log, { orgId: c.req.param('orgId') }));
  });

  on(app, routes.revokeToken, async (c) => {
    await requireAdminScope(c.env);
    const raw = c.req.param('prefix');
    const prefix = parseValue(raw, TokenPrefix, () => new NotFound(`no live token with prefix "${raw}"`));
    return reply(routes.revokeToken, 200, await revokeToken(c.env.deps.ports, c.env.log, { prefix }));
  });

  on(app, routes.runCleanup, async (c) => {
    await requireAdminScope(c.env);
    return reply(routes.runCleanup, 200, await c.env.deps.runCleanup());
  });
}
