import { MethodNotAllowed, NotFound } from '../shared/errors.js';
import type { ApiRequest, ApiResponse } from './http.js';

export type RouteHandler<Ctx> = (ctx: Ctx, params: Record<string, string>) => Promise<ApiResponse>;

interface Route<Ctx> {
  method: string;
  pattern: RegExp;
  keys: string[];
  handler: RouteHandler<Ctx>;
}

/** A tiny method + path matcher: `/workspaces/{id}/plugins/{name}`; params are URI-decoded. */
export class Router<Ctx extends { req: ApiRequest }> {
  private readonly routes: Route<Ctx>[] = [];

  on(method: string, path: string, handler: RouteHandler<Ctx>): this {
    const keys: string[] = [];
    const source = path.replace(/\{(\w+)\}/g, (_m, key: string) => {
      keys.push(key);
      return '([^/]+)';
    });
    this.routes.push({ method, pattern: new RegExp(`^${source}/?$`), keys, handler });
    return this;
  }

  async dispatch(ctx: Ctx): Promise<ApiResponse> {
    const { method, path } = ctx.req;
    const allowed = new Set<string>();
    for (const route of this.routes) {
      const match = route.pattern.exec(path);
      if (!match) continue;
      allowed.add(route.method);
      if (route.method === 'GET') allowed.add('HEAD');
      if (route.method !== method && !(method === 'HEAD' && route.method === 'GET')) continue;
      const params = Object.fromEntries(route.keys.map((key, i) => [key, safeDecode(match[i + 1]!)]));
      return route.handler(ctx, params);
    }
    if (allowed.size > 0) throw new MethodNotAllowed(`method ${method} is not allowed on ${path}`, { allowed: [...allowed].sort() });
    throw new NotFound(`no route for ${method} ${path}`);
  }
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
