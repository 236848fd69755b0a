import { Hono, type Handler, type MiddlewareHandler } from 'hono';
import type * as z from '../shared/zod.js';
import { MethodNotAllowed, NotFound } from '../shared/errors.js';
import { json, type ApiRequest, type ApiResponse } from './http.js';
import type { RequestScope } from './context.js';
import type { RouteContract, SchemaName } from './contract/routes.js';
import type * as bodies from './contract/responses.js';
import { errorResponse } from './respond.js';

/** Route handlers see the request's scope as Hono's bindings (`c.env`). */
export type ApiEnv = { Bindings: RequestScope };
export type ApiApp = Hono<ApiEnv>;

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

/**
 * The path each Request stands for, exactly as sent. A Request's URL would resolve `..` and
 * `%2e%2e` segments; API Gateway hands them over as they came, and so do we.
 */
const rawPaths = new WeakMap<Request, string>();

/** Which route answered, for the request's log line (`/*` is this middleware itself: no route matched). */
const recordRoute: MiddlewareHandler<ApiEnv> = async (c, next) => {
  await next();
  c.env.route = c.req.routePath === '/*' ? null : c.req.routePath;
};

export function createRouter(): ApiApp {
  const app = new Hono<ApiEnv>({
    getPath: (request) => {
      const path = rawPaths.get(request) ?? '/';
      return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
    },
  });
  app.use('*', recordRoute);
  app.notFound((c) => toResponse(errorResponse(unmatched(app, c.req.method, c.env.req.path), c.env.log)));
  app.onError((err, c) => toResponse(errorResponse(err, c.env.log)));
  return app;
}

/** The routes registered on each app, in order: what its OpenAPI document describes. */
const declared = new WeakMap<ApiApp, RouteContract[]>();

/** `/workspaces/{id}/plugins` as Hono writes it, `/workspaces/:id/plugins`, so handlers see the path values' names. */
type HonoPath<P extends string> = P extends `${infer Head}{${infer Name}}${infer Tail}` ? `${Head}:${Name}${HonoPath<Tail>}` : P;

/** Serves `route` (a route of the contract) with `handler`; the app's document describes every route registered so. */
export function on<R extends RouteContract>(app: ApiApp, route: R, handler: Handler<ApiEnv, HonoPath<R['path']>>): void {
  app.on(route.method.toUpperCase(), route.path.replace(/\{(\w+)\}/g, ':$1'), handler);
  const routes = declared.get(app);
  if (routes) routes.push(route);
  else declared.set(app, [route]);
}

export function routesOf(app: ApiApp): readonly RouteContract[] {
  return declared.get(app) ?? [];
}

type JsonBodyOf<R extends RouteContract, S extends keyof R['responses']> = R['responses'][S] extends { body: infer B }
  ? B extends SchemaName
    ? z.input<(typeof bodies)[B]>
    : B extends z.ZodMiniType
      ? z.input<B>
      : never
  : never;

/** A JSON answer the route's contract lists, its body checked against the contract's schema when this compiles. */
export function reply<R extends RouteContract, S extends keyof R['responses'] & number>(
  _route: R,
  status: S,
  body: JsonBodyOf<R, S>,
  headers?: Record<string, string>,
): Response {
  return toResponse(json(status, body, headers));
}

/** Routes one request: HEAD is answered by the GET route, without a body. */
export async function dispatch(app: ApiApp, scope: RequestScope): Promise<ApiResponse> {
  const { req } = scope;
  let request: Request;
  try {
    request = new Request(`http://api.internal/?${queryString(req.query)}`, { method: req.method });
  } catch {
    // Fetch refuses methods such as TRACE outright; they are as unknown to us as any other.
    return errorResponse(unmatched(app, req.method, req.path), scope.log);
  }
  rawPaths.set(request, req.path);
  const response = await app.fetch(request, scope);
  const headers: Record<string, string> = {};
  for (const [name, value] of response.headers) headers[name] = value;
  return { statusCode: response.status, headers, body: await response.text() };
}

export function toResponse(res: ApiResponse): Response {
  return new Response(res.body, { status: res.statusCode, headers: res.headers });
}

/** 405 with the methods the path does take, or 404 when no route has the path. */
function unmatched(app: ApiApp, method: string, path: string): Error {
  const trimmed = path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
  const routed = (m: string) => app.router.match(m, trimmed)[0].some(([[handler]]) => handler !== recordRoute);
  const allowed = METHODS.filter((m) => m !== 'HEAD' && routed(m));
  if (allowed.includes('GET')) allowed.push('HEAD');
  if (allowed.length > 0) return new MethodNotAllowed(`method ${method} is not allowed on ${path}`, { allowed: allowed.sort() });
  return new NotFound(`no route for ${method} ${path}`);
}

function queryString(query: ApiRequest['query']): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) if (value !== undefined) params.append(name, value);
  return params.toString();
}
