import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { NotFound } from '../../shared/errors.js';
import type { ApiApp } from '../router.js';
import { on, toResponse } from '../router.js';
import * as routes from '../contract/routes.js';

/**
 * `GET /ops`: the operations page (SPEC §4). The HTML and its assets hold no data, so they are
 * served without a token; the page asks for the admin token and calls the API with it. The files
 * are read at run time from `pageDir` (lambdas/api/ops-page/ from source; the Lambda bundle carries
 * a copy next to itself, see infra/constructs/handler-function.ts), the same code path locally and
 * behind API Gateway.
 */
const FILES: Record<string, { file: string; type: string }> = {
  '': { file: 'index.html', type: 'text/html; charset=utf-8' },
  'app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  'model.js': { file: 'model.js', type: 'text/javascript; charset=utf-8' },
  'style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
  'favicon.svg': { file: 'favicon.svg', type: 'image/svg+xml; charset=utf-8' },
};

/** Only our own script, stylesheet and API calls: no inline script or style, no framing, no other origin. */
export const OPS_PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

interface PageFile {
  body: string;
  etag: string;
}

export function registerOpsPageRoutes(app: ApiApp, pageDir: URL): void {
  const cache = new Map<string, Promise<PageFile>>();
  const load = (file: string): Promise<PageFile> => {
    let loaded = cache.get(file);
    if (!loaded) {
      loaded = readFile(new URL(file, pageDir), 'utf8').then((body) => ({ body, etag: `"${createHash('sha256').update(body).digest('hex').slice(0, 32)}"` }));
      // A failed read is not kept: the next request tries again.
      loaded.catch(() => cache.delete(file));
      cache.set(file, loaded);
    }
    return loaded;
  };
  const serve = async (asset: string, ifNoneMatch: string | undefined): Promise<Response> => {
    const entry = Object.hasOwn(FILES, asset) ? FILES[asset] : undefined;
    if (!entry) throw new NotFound(`no ops page asset ${JSON.stringify(asset)}`);
    const { body, etag } = await load(entry.file);
    const headers = {
      'content-type': entry.type,
      'content-security-policy': OPS_PAGE_CSP,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'x-frame-options': 'DENY',
      // Revalidated on every load, so a deploy shows at once; unchanged files answer 304.
      'cache-control': 'no-cache',
      etag,
    };
    // A 304 has no body at all (a Response refuses even an empty one).
    if (ifNoneMatch === etag) return new Response(null, { status: 304, headers });
    return toResponse({ statusCode: 200, headers, body });
  };

  on(app, routes.opsPage, (c) => serve('', c.env.req.headers['if-none-match']));
  on(app, routes.opsPageAsset, (c) => serve(c.req.param('asset'), c.env.req.headers['if-none-match']));
}
