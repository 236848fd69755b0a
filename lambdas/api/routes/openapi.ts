import type { ApiApp } from '../router.js';
import { on, reply, routesOf } from '../router.js';
import * as routes from '../contract/routes.js';
import type { OpenApiDocument } from '../openapi-document.js';

/**
 * `GET /openapi.json` (SPEC §13), no token: the OpenAPI document of every route this app serves,
 * built on the first request (its builder and zod's JSON Schema output are a chunk of their own, so
 * no other request loads them) and kept. A failed build is not kept: the next request tries again.
 */
export function registerOpenApiRoute(app: ApiApp): void {
  let document: Promise<OpenApiDocument> | undefined;
  on(app, routes.describeApi, async () => {
    if (!document) {
      document = import('../openapi-document.js').then(({ openApiDocument }) => openApiDocument(routesOf(app)));
      document.catch(() => (document = undefined));
    }
    return reply(routes.describeApi, 200, await document);
  });
}
