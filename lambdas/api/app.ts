import { createRouter, dispatch, on, reply, type ApiApp } from './router.js';
import type { ApiDeps, RequestScope } from './context.js';
import type { ApiRequest, ApiResponse } from './http.js';
import type { Principal } from '../use-cases/access.js';
import * as routes from './contract/routes.js';
import { registerAdminRoutes } from './routes/admin.js';
import { registerPluginRoutes } from './routes/plugins.js';
import { registerRegistryRoutes } from './routes/registry.js';
import { registerAllowlistRoutes } from './routes/allowlist.js';
import { registerRolloutRoutes } from './routes/rollouts.js';
import { registerTrustRoutes } from './routes/trust.js';
import { registerOperationRoutes } from './routes/operations.js';
import { registerOpsPageRoutes } from './routes/ops-page.js';
import { registerOpenApiRoute } from './routes/openapi.js';
import { logger, withKeys } from '../shared/logger.js';

export type ExtraRoutes = (app: ApiApp) => void;

/**
 * Every route of SPEC §4 behind one router, each registered against its contract
 * (contract/routes.ts), so `GET /openapi.json` describes them all. `extraRoutes` lets the local
 * stack add its own admin routes (instance stop/start).
 */
export function apiRouter(extraRoutes?: ExtraRoutes): ApiApp {
  const app = createRouter();
  on(app, routes.health, () => reply(routes.health, 200, { status: 'ok' }));
  registerAdminRoutes(app);
  registerPluginRoutes(app);
  registerRegistryRoutes(app);
  registerAllowlistRoutes(app);
  registerRolloutRoutes(app);
  registerTrustRoutes(app);
  registerOperationRoutes(app);
  registerOpsPageRoutes(app, new URL('./ops-page/', import.meta.url));
  registerOpenApiRoute(app);
  extraRoutes?.(app);
  return app;
}

/** Builds the API: the router, with errors mapped in one place and one log line per request. */
export function createApi(deps: ApiDeps, extraRoutes?: ExtraRoutes): (req: ApiRequest) => Promise<ApiResponse> {
  const app = apiRouter(extraRoutes);

  return async (req) => {
    const log = withKeys(logger, { requestId: req.requestId });
    let principal: Promise<Principal> | undefined;
    const scope: RequestScope = {
      req,
      deps,
      log,
      principal: () => (principal ??= deps.authenticate(req.headers.authorization)),
    };
    const started = Date.now();
    const response = await dispatch(app, scope);
    // One line per request, joined to API Gateway's access log by `requestId` (its $context.requestId).
    const operationId = response.headers['x-operation-id'];
    log.info('request', {
      method: req.method,
      path: req.path,
      route: scope.route ?? null,
      status: response.statusCode,
      ms: Date.now() - started,
      ...(operationId ? { operationId } : {}),
    });
    // Answers echo what the request said (names, sources): no browser may sniff them into HTML.
    return { ...response, headers: { ...response.headers, 'x-content-type-options': 'nosniff', 'x-request-id': req.requestId } };
  };
}
