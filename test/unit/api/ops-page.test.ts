import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';
import { API_FILES } from '../../../infra/constructs/handler-function.js';
import { createApi } from '../../../lambdas/api/app.js';
import type { ApiDeps } from '../../../lambdas/api/context.js';
import type { ApiResponse } from '../../../lambdas/api/http.js';

/** The page holds no data: serving it must never ask who is calling. */
const deps = { authenticate: () => Promise.reject(new Error('the ops page must not authenticate')) } as unknown as ApiDeps;
type Handle = ReturnType<typeof createApi>;
const api = createApi(deps);
const get = (handle: Handle, urlPath: string, headers: Record<string, string> = {}, method = 'GET'): Promise<ApiResponse> =>
  handle({ method, path: urlPath, headers, query: {}, body: undefined, requestId: 'req-1' });

/** Every `/ops/...` file the HTML loads, and every module app.js imports. */
function referencedAssets(html: string): string[] {
  return [...html.matchAll(/(?:src|href)="(\/ops\/[^"]+)"/g)].map((m) => m[1]!);
}

describe('GET /ops', () => {
  it('serves the page to anyone, as UTF-8 HTML with a strict CSP, nosniff and a cache policy', async () => {
    const res = await get(api, '/ops');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    const csp = res.headers['content-security-policy']!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).not.toContain('unsafe-eval');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['cache-control']).toBe('no-cache');
    expect(res.body).toContain('<script type="module" src="/ops/app.js"></script>');
  });

  it('is served with a bad token too (the token is entered in the page, not checked here)', async () => {
    expect((await get(api, '/ops', { authorization: 'Bearer nope' })).statusCode).toBe(200);
    expect((await get(api, '/ops/', {})).statusCode).toBe(200);
  });

  it('has no inline script, inline style or inline event handler for the CSP to block', async () => {
    const html = (await get(api, '/ops')).body;
    for (const script of html.matchAll(/<script\b[^>]*>([\s\S]*?)<\/script>/g)) {
      expect(script[0]).toMatch(/\bsrc="/);
      expect(script[1]!.trim()).toBe('');
    }
    expect(html).not.toMatch(/<style\b/);
    expect(html).not.toMatch(/\sstyle="/);
    expect(html).not.toMatch(/\son[a-z]+="/);
  });

  it('asks for the token in a password field of a POST form, so it cannot land in a URL even without the script', async () => {
    const html = (await get(api, '/ops')).body;
    const form = /<form id="login-form"[^>]*>[\s\S]*?<\/form>/.exec(html)?.[0] ?? '';
    expect(form).toMatch(/<form id="login-form" method="post"/);
    expect(form).toMatch(/<input id="token" name="token" type="password" autocomplete="off"/);
    expect((await get(api, '/ops')).headers['content-security-policy']).toContain("form-action 'none'");
  });

  it('serves every file the page loads with its own type, and every module app.js imports', async () => {
    const html = (await get(api, '/ops')).body;
    const app = (await get(api, '/ops/app.js')).body;
    const imports = [...app.matchAll(/from '\.\/([^']+)'/g)].map((m) => `/ops/${m[1]}`);
    const assets = [...referencedAssets(html), ...imports];
    expect(assets).toEqual(expect.arrayContaining(['/ops/app.js', '/ops/style.css', '/ops/model.js']));
    const types: Record<string, string> = { js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8', svg: 'image/svg+xml; charset=utf-8' };
    for (const asset of assets) {
      const res = await get(api, asset);
      expect(res.statusCode, asset).toBe(200);
      expect(res.headers['content-type'], asset).toBe(types[asset.split('.').pop()!]);
      expect(res.headers['x-content-type-options'], asset).toBe('nosniff');
      expect(res.body.length, asset).toBeGreaterThan(0);
    }
  });

  it('answers 404 JSON for an asset it does not have, however the name is spelt', async () => {
    for (const asset of ['/ops/nope.js', '/ops/index.html', '/ops/..%2Froutes%2Fops-page.ts', '/ops/%2e%2e', '/ops/constructor', '/ops/app.js/x']) {
      const res = await get(api, asset);
      expect(res.statusCode, asset).toBe(404);
      expect(res.headers['content-type'], asset).toBe('application/json');
      expect(JSON.parse(res.body), asset).toMatchObject({ code: 'not_found' });
    }
  });

  it('answers 304 to a revalidation with the current ETag, and 200 with the file once it changed', async () => {
    const first = await get(api, '/ops/app.js');
    const etag = first.headers.etag!;
    expect(etag).toMatch(/^"[0-9a-f]{32}"$/);
    const again = await get(api, '/ops/app.js', { 'if-none-match': etag });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
    expect((await get(api, '/ops/app.js', { 'if-none-match': '"stale"' })).statusCode).toBe(200);
  });

  it('answers HEAD without a body and other methods with 405', async () => {
    const head = await get(api, '/ops', {}, 'HEAD');
    expect(head.statusCode).toBe(200);
    expect(head.body).toBe('');
    const post = await get(api, '/ops', {}, 'POST');
    expect(post.statusCode).toBe(405);
    expect(JSON.parse(post.body)).toMatchObject({ code: 'method_not_allowed' });
  });
});

describe('the ops page in the Lambda bundle', () => {
  const repo = path.resolve(import.meta.dirname, '../../..');
  // Inside the repo, so the bundle's external packages resolve from node_modules (test/artifacts is git-ignored).
  mkdirSync(path.join(repo, 'test/artifacts'), { recursive: true });
  const outdir = mkdtempSync(path.join(repo, 'test/artifacts/ops-bundle-'));
  afterAll(() => rmSync(outdir, { recursive: true, force: true }));

  it("reads its files next to the bundle, copied there by the api function's afterBundling hook", async () => {
    // The API's module bundled on its own (as the stack does for the handler), then the hook's commands.
    await build({
      entryPoints: [path.join(repo, 'lambdas/api/app.ts')],
      outfile: path.join(outdir, 'index.mjs'),
      bundle: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      logLevel: 'silent',
      packages: 'external',
    });
    for (const command of API_FILES.afterBundling(repo, outdir)) execFileSync('bash', ['-c', command]);
    const bundled = (await import(pathToFileURL(path.join(outdir, 'index.mjs')).href)) as { createApi: typeof createApi };
    const handle = bundled.createApi(deps);
    const page = await get(handle, '/ops');
    expect(page.statusCode).toBe(200);
    expect(page.body).toBe((await get(api, '/ops')).body);
    expect((await get(handle, '/ops/model.js')).statusCode).toBe(200);
  });
});
