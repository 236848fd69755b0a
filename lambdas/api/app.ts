import { Router } from './router.js';
import type { ApiDeps, Ctx } from './context.js';
import type { ApiRequest, ApiResponse } from './http.js';
import { json } from './http.js';
import { authenticate, type Principal } from './auth.js';
import { errorResponse } from './respond.js';
import { registerAdminRoutes } from './routes/admin.js';
import { registerPluginRoutes } from './routes/plugins.js';
import { registerRegistryRoutes } from './routes/registry.js';
import { registerAllowlistRoutes } from './routes/allowlist.js';
import { registerOperationRoutes } from './routes/operations.js';
import { logger } from '../shared/logger.js';

export type ExtraRoutes = (router: Router<Ctx>) => void;

/**
 * Builds the API: every route of SPEC §4 behind one router; errors are mapped in one place.
 * `extraRoutes` lets the local stack add its own admin routes (instance stop/start).
 */
export function createApi(deps: ApiDeps, extraRoutes?: ExtraRoutes): (req: ApiRequest, authorizerPrincipal?: Principal) => Promise<ApiResponse> {
  const router = new Router<Ctx>();
  router.on('GET', '/health', async () => json(200, { status: 'ok' }));
  registerAdminRoutes(router);
  registerPluginRoutes(router);
  registerRegistryRoutes(router);
  registerAllowlistRoutes(router);
  registerOperationRoutes(router);
  extraRoutes?.(router);

  return async (req, authorizerPrincipal) => {
    const log = logger.createChild({ persistentKeys: { requestId: req.requestId } });
    let principal: Promise<Principal> | undefined = authorizerPrincipal ? Promise.resolve(authorizerPrincipal) : undefined;
    const ctx: Ctx = {
      req,
      deps,
      log,
      principal: () => (principal ??= authenticate(deps.db, deps.config.adminToken, req.headers.authorization)),
    };
    const started = Date.now();
    let response: ApiResponse;
    try {
      response = await router.dispatch(ctx);
    } catch (err) {
      response = errorResponse(err, log);
    }
    log.info('request', { method: req.method, path: req.path, status: response.statusCode, ms: Date.now() - started });
    return { ...response, headers: { ...response.headers, 'x-request-id': req.requestId } };
  };
}
