import type { ApiApp } from '../router.js';
import { toResponse } from '../router.js';
import { parseQuery, requireAdminScope } from '../context.js';
import { json } from '../http.js';
import { OperationsQuery } from '../schemas.js';

export function registerOperationRoutes(app: ApiApp): void {
  app.get('/operations', async (c) => {
    await requireAdminScope(c.env);
    const operations = await c.env.deps.ports.operations.list(parseQuery(c.req.query(), OperationsQuery));
    return toResponse(json(200, operations));
  });
}
