import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pluginEntries, tarGz } from '../support/archives.js';
import { FakeCodeload } from '../support/codeload.js';
import { useLocalStack } from '../support/local-stack.js';

/**
 * Issue #9 acceptance: Debian's Chromium (never a downloaded browser), headless, drives the ops
 * page of `npm start`'s stack: signs in with the admin token, watches an install onto a stopped
 * SSM instance turn red at Deliver with `workspace_unreachable`, and shows hostile strings as text.
 * Every wait is on a DOM state, with generous timeouts; nothing measures wall-clock speed.
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
const ARTIFACTS = path.resolve('test/artifacts');
const WAIT = { timeout: 120_000 };

const STOPPED = { workspace: 'ws-ops-stopped', instance: 'i-0e2e0000000000a01' };
const ONLINE = { workspace: 'ws-ops-online', instance: 'i-0e2e0000000000a02' };
/** Becomes a symlink's name in a plugin archive; Stage drops the link and warns, quoting the name. */
const XSS = '<img src=x onerror=window.__xss=1>';

const codeload = new FakeCodeload();
beforeAll(() => codeload.start());
afterAll(() => codeload.stop());
const stack = useLocalStack(() => ({ GITHUB_CODELOAD_URL: codeload.url }));

let browser: Browser;
let context: BrowserContext;
let page: Page;
const consoleErrors: string[] = [];
const failedRequests: string[] = [];
const errorResponses: string[] = [];

beforeAll(async () => {
  for (const { workspace, instance } of [STOPPED, ONLINE]) {
    const res = await stack.call('PUT', `/admin/workspaces/${workspace}`, {
      token: stack.adminToken,
      body: { orgId: 'acme', runtime: 'claude-code', instanceId: instance, transport: 'ssm' },
    });
    expect(res.status).toBeLessThan(300);
  }
  codeload.set('acme/xss-demo', 'v1', () =>
    tarGz([...pluginEntries({ 'rules/a.md': 'be kind\n' }, 'xss-demo-v1'), { name: `xss-demo-v1/${XSS}`, type: 'symlink', linkname: 'rules/a.md' }]),
  );

  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS });
  context = await browser.newContext({ viewport: { width: 1366, height: 768 } });
  page = await context.newPage();
  page.on('console', (msg) => {
    if (msg.type() === 'error') consoleErrors.push(msg.text());
  });
  page.on('pageerror', (err) => consoleErrors.push(`uncaught: ${err.message}`));
  page.on('requestfailed', (req) => failedRequests.push(`${req.method()} ${req.url()}: ${req.failure()?.errorText}`));
  page.on('response', (res) => {
    if (res.status() >= 400) errorResponses.push(`${res.status()} ${res.url()}`);
  });
}, 120_000);

afterAll(async () => {
  await browser?.close();
});

async function startInstall(workspace: string, source: string): Promise<string> {
  const res = await stack.call('POST', `/workspaces/${workspace}/plugins`, { token: stack.adminToken, body: { source } });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body.operationId as string;
}

const row = (operationId: string) => page.locator(`button.op-link[data-operation-id="${operationId}"]`);

describe('the ops page in Chromium', () => {
  it('asks for the admin token and keeps it in session storage only, never in the URL', async () => {
    await page.goto(`${stack.url}/ops`);
    await page.getByLabel('Admin token').fill(stack.adminToken);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Recent operations' }).waitFor(WAIT);
    await page.getByText(/Last updated/).waitFor(WAIT);

    expect(page.url()).not.toContain(stack.adminToken);
    expect(await page.evaluate<string[]>('Object.values(sessionStorage)')).toContain(stack.adminToken);
    expect(await page.evaluate<number>('localStorage.length')).toBe(0);
    expect(await page.getByLabel('Admin token').isVisible()).toBe(false);
  });

  it('shows an install onto a stopped instance failing at Deliver with workspace_unreachable, reached by keyboard', async () => {
    const stopped = await stack.call('POST', `/admin/local/instances/${STOPPED.instance}/stop`, { token: stack.adminToken });
    expect(stopped.status).toBe(200);
    const operationId = await startInstall(STOPPED.workspace, 'local://hello-skill');

    // Filter to the workspace, as an on-call engineer would.
    await page.getByLabel('Workspace').fill(STOPPED.workspace);
    await page.getByLabel('Workspace').press('Enter');
    await row(operationId).waitFor(WAIT);
    expect(page.url()).toContain(`workspaceId=${STOPPED.workspace}`);

    // From the top of the page, Tab reaches the operation and Enter opens it.
    await page.locator('body').focus();
    await page.evaluate('document.activeElement?.blur()');
    let reached = false;
    for (let i = 0; i < 80 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = await page.evaluate<boolean>(`document.activeElement?.dataset.operationId === ${JSON.stringify(operationId)}`);
    }
    expect(reached, 'Tab never reached the operation').toBe(true);
    const outline = await page.evaluate<string>('getComputedStyle(document.activeElement).outlineStyle');
    expect(outline).not.toBe('none');
    await page.keyboard.press('Enter');

    const deliver = page.locator('#detail .graph .step[data-step="Deliver"]');
    await page.locator('#detail .graph .step[data-step="Deliver"][data-state="failed"]').waitFor(WAIT);
    await expect.poll(() => deliver.textContent(), WAIT).toContain('workspace_unreachable');
    expect((await deliver.textContent())?.toLowerCase()).toContain('failed');
    // Steps before it succeeded, steps after it were never reached.
    expect(await page.locator('#detail .graph .step[data-step="Stage"]').getAttribute('data-state')).toBe('succeeded');
    expect(await page.locator('#detail .graph .step[data-step="Restart"]').getAttribute('data-state')).toBe('not-reached');
    await expect.poll(() => page.locator('#operation-rows').textContent(), WAIT).toContain('Deliver: workspace_unreachable');
    const deliverDetail = page.locator('#detail section.step-detail[data-step="Deliver"]');
    expect(await deliverDetail.textContent()).toContain('workspace_unreachable');
    expect(page.url()).toContain(`op=${operationId}`);

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'ops-page-deliver-failed.png'), fullPage: true });
  }, 300_000);

  it('keeps the session and the chosen operation across a reload', async () => {
    await page.reload();
    await page.locator('#detail .graph .step[data-step="Deliver"][data-state="failed"]').waitFor(WAIT);
    expect(await page.getByLabel('Admin token').isVisible()).toBe(false);
    expect(await page.getByLabel('Workspace').inputValue()).toBe(STOPPED.workspace);
  });

  it('shows a hostile string from a plugin archive as text, never as markup', async () => {
    await page.getByRole('button', { name: 'Clear' }).click();
    const operationId = await startInstall(ONLINE.workspace, 'github://acme/xss-demo#v1');
    await row(operationId).waitFor(WAIT);
    await row(operationId).click();
    await expect
      .poll(
        () =>
          page
            .locator('#detail .warnings')
            .textContent()
            .catch(() => ''),
        WAIT,
      )
      .toContain(XSS);
    await page.locator('#detail .graph .step[data-step="Record"][data-state="succeeded"]').waitFor(WAIT);
    expect(await page.locator('#detail .graph .step[data-step="VerifyHealth"]').getAttribute('data-state')).toBe('succeeded');
    // The plugin's revisions on that workspace, this operation's the active one.
    const revision = page.locator('#detail .revisions-table tr.this-operation');
    await revision.waitFor(WAIT);
    expect(await revision.getAttribute('data-status')).toBe('active');
    expect(await page.locator('img').count()).toBe(0);
    expect(await page.evaluate<unknown>('window.__xss')).toBeUndefined();
  }, 300_000);

  it('marks a verify that found drift, and shows what differs, hostile file names as text', async () => {
    const plugins = path.join(stack.localDir, 'instances', ONLINE.instance, 'configs', 'plugins');
    appendFileSync(path.join(plugins, 'xss-demo', 'rules', 'a.md'), 'edited on the host\n');
    writeFileSync(path.join(plugins, 'xss-demo', 'rules', XSS.replaceAll('/', '_')), 'hostile\n');
    const res = await stack.call('POST', `/workspaces/${ONLINE.workspace}/plugins/verify`, { token: stack.adminToken, headers: { prefer: 'wait=25' } });
    expect(res.body.drift).toBe(true);

    await page.getByRole('button', { name: 'Clear' }).click();
    await row(res.body.operationId).waitFor(WAIT);
    expect(await page.locator('#operation-rows tr[data-drift="true"] .badge.drift').first().textContent()).toMatch(/^drifted: 1 plugin/);
    await row(res.body.operationId).click();
    const modified = page.locator('#detail .drift-table tr[data-plugin="xss-demo"][data-state="modified"]');
    await modified.waitFor(WAIT);
    expect(await modified.locator('li[data-change="changed"]').textContent()).toBe('~ rules/a.md');
    expect(await modified.locator('li[data-change="added"]').textContent()).toBe(`+ rules/${XSS.replaceAll('/', '_')}`);
    expect(await page.locator('img').count()).toBe(0);
    expect(await page.evaluate<unknown>('window.__xss')).toBeUndefined();
    await page.screenshot({ path: path.join(ARTIFACTS, 'ops-page-drift.png'), fullPage: true });
  }, 300_000);

  it("lists fleet rollouts, shows one's workspaces, and opens a workspace's operation from there", async () => {
    const res = await stack.call('POST', '/orgs/acme/rollouts', {
      token: stack.adminToken,
      body: { source: 'local://code-review-rules', targets: { workspaceIds: [ONLINE.workspace] }, canary: 0 },
    });
    expect(res.status).toBe(202);
    const rolloutRow = page.locator(`#rollout-rows tr[data-rollout="${res.body.rolloutId}"]`);
    await rolloutRow.waitFor(WAIT);
    await rolloutRow.locator('button').click();
    const workspace = page.locator(`#rollout-detail tr[data-workspace="${ONLINE.workspace}"][data-status="succeeded"]`);
    await workspace.waitFor(WAIT);
    await workspace.locator('button').click();
    await expect.poll(() => page.locator('#detail-title').textContent(), WAIT).toBe(`install code-review-rules on ${ONLINE.workspace}`);
  }, 300_000);

  it('signs out: the token is gone and the token form is back', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Admin token').waitFor(WAIT);
    expect(await page.evaluate<number>('sessionStorage.length')).toBe(0);
    expect(await page.locator('#operation-rows tr').count()).toBe(0);
  });

  it('sends a session whose token the API refuses (401) back to the token form, saying why', async () => {
    // A page of its own: the refused call is an error response this page is meant to see.
    const other = await context.newPage();
    try {
      await other.goto(`${stack.url}/ops`);
      await other.evaluate(`sessionStorage.setItem('molecule-ops-token', 'revoked-or-unknown')`);
      await other.reload();
      await other.getByText('The token was not accepted').waitFor(WAIT);
      expect(await other.getByLabel('Admin token').isVisible()).toBe(true);
      expect(await other.evaluate<number>('sessionStorage.length')).toBe(0);
    } finally {
      await other.close();
    }
  });

  it('logged no console error, no failed request and no error response', () => {
    expect(consoleErrors).toEqual([]);
    expect(failedRequests).toEqual([]);
    expect(errorResponses).toEqual([]);
  });
});
