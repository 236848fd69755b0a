import type { ApiApp } from '../router.js';
import { on, reply } from '../router.js';
import { parseBody } from '../context.js';
import * as routes from '../contract/routes.js';
import { readTrust, replaceTrust } from '../../use-cases/trust.js';

export function registerTrustRoutes(app: ApiApp): void {
  on(app, routes.getTrust, async (c) => {
    const principal = await c.env.principal();
    const { trust, etag } = await readTrust(c.env.deps.ports, { principal, orgId: c.req.param('orgId') });
    return reply(routes.getTrust, 200, trust, { etag });
  });

  on(app, routes.replaceTrust, async (c) => {
    const { req, deps, log } = c.env;
    const principal = await c.env.principal();
    const ifMatch = req.headers['if-match'];
    const { trust, etag } = await replaceTrust(deps.ports, log, {
      principal,
      orgId: c.req.param('orgId'),
      body: () => parseBody(req, routes.replaceTrust.body, deps.config.limits.maxBodyBytes),
      ...(ifMatch !== undefined && { ifMatch }),
    });
    return reply(routes.replaceTrust, 200, trust, { etag });
  });
}
