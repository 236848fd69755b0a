import type { ApiApp } from '../router.js';
import { on, reply } from '../router.js';
import { parseBody } from '../context.js';
import * as routes from '../contract/routes.js';
import { readAllowlist, replaceAllowlist } from '../../use-cases/allowlist.js';
import { InvalidPluginName } from '../../shared/errors.js';
import { PLUGIN_NAME_RE } from '../../shared/types.js';

export function registerAllowlistRoutes(app: ApiApp): void {
  on(app, routes.getAllowlist, async (c) => {
    const principal = await c.env.principal();
    const orgId = c.req.param('orgId');
    const plugins = await readAllowlist(c.env.deps.ports, { principal, orgId });
    return reply(routes.getAllowlist, 200, { org_id: orgId, plugins, allow_all: plugins.length === 0 });
  });

  on(app, routes.replaceAllowlist, async (c) => {
    const { req, deps, log } = c.env;
    const principal = await c.env.principal();
    const orgId = c.req.param('orgId');
    const plugins = await replaceAllowlist(deps.ports, log, {
      principal,
      orgId,
      body: () => {
        const body = parseBody(req, routes.replaceAllowlist.body, deps.config.limits.maxBodyBytes);
        const names = body.plugins.map((entry) => (typeof entry === 'string' ? entry : entry.name));
        const invalid = names.find((name) => !PLUGIN_NAME_RE.test(name));
        if (invalid !== undefined) throw new InvalidPluginName(`invalid plugin name "${invalid}"`);
        return body;
      },
    });
    return reply(routes.replaceAllowlist, 200, { org_id: orgId, plugins, allow_all: plugins.length === 0 });
  });
}
