import type { ApiApp } from '../router.js';
import { on, reply } from '../router.js';
import { parseQuery, parseValue, requireAdminScope } from '../context.js';
import { OperationId, type OperationsQuery } from '../schemas.js';
import * as routes from '../contract/routes.js';
import { OperationNotFound } from '../../shared/errors.js';
import { operationById, operationsPage } from '../../use-cases/queries.js';

/** The ops view (admin only): recent operations, filtered and paged, and one operation by its id. */
export function registerOperationRoutes(app: ApiApp): void {
  on(app, routes.listOperations, async (c) => {
    await requireAdminScope(c.env);
    const filter = parseQuery(c.req.query(), routes.listOperations.query);
    const page = await operationsPage(c.env.deps.ports, filter);
    // The body stays a JSON array (as before paging existed); the next page is in the headers.
    const headers: Record<string, string> = {};
    if (page.nextCursor) {
      headers['x-next-cursor'] = page.nextCursor;
      headers.link = `<${nextPagePath(filter, page.nextCursor)}>; rel="next"`;
    }
    return reply(routes.listOperations, 200, page.operations, headers);
  });

  on(app, routes.getOperation, async (c) => {
    await requireAdminScope(c.env);
    const id = c.req.param('operationId');
    const operationId = parseValue(id, OperationId, () => new OperationNotFound(`operation "${id}" not found`));
    return reply(routes.getOperation, 200, await operationById(c.env.deps.ports, operationId));
  });
}

/** The same query with the next page's cursor, as a path (relative to the API's base URL). */
function nextPagePath(filter: OperationsQuery, cursor: string): string {
  const params = new URLSearchParams();
  for (const key of ['status', 'workspaceId', 'orgId', 'plugin', 'kind'] as const) {
    const value = filter[key];
    if (value) params.set(key, value);
  }
  if (filter.since) params.set('since', filter.since.toISOString());
  params.set('limit', String(filter.limit));
  params.set('cursor', cursor);
  return `/operations?${params.toString()}`;
}
