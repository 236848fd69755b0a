import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { useSharedLocalStack } from '../support/local-stack.js';
import { CLI_TEST_TIMEOUT_MS, runCli } from '../support/cli.js';

/** The CLI as a user runs it, as its own process, against `npm start`'s process over HTTP. */
const stack = useSharedLocalStack();
let org = '';
const INSTANCE = 'i-0c11000000000000a';

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return cliAs(org, ...args);
}

function cliAs(token: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return runCli(stack.url, token, ...args);
}

beforeAll(async () => {
  await stack.call('PUT', '/admin/workspaces/cli-ws', { token: stack.adminToken, body: { orgId: 'cli-org', runtime: 'claude-code', instanceId: INSTANCE } });
  org = (await stack.call('POST', '/admin/orgs/cli-org/tokens', { token: stack.adminToken })).body.token;
});

describe('molecule-plugins', { timeout: CLI_TEST_TIMEOUT_MS }, () => {
  it('installs a plugin, showing each workflow step while it waits, then lists it', async () => {
    const run = await cli('install', 'cli-ws', 'hello-skill');
    expect(run.code).toBe(0);
    for (const step of ['Stage', 'CheckAllowlist', 'Deliver', 'Restart', 'VerifyHealth', 'Record'])
      expect(run.stderr).toMatch(new RegExp(`${step}\\s+succeeded`));
    expect(run.stdout).toMatch(/^installed hello-skill \(sha256 [0-9a-f]{64}\) on cli-ws/);
    expect(existsSync(join(stack.localDir, 'instances', INSTANCE, 'configs', 'plugins', 'hello-skill', 'plugin.yaml'))).toBe(true);

    const listed = await cli('list', 'cli-ws', '--json');
    expect(JSON.parse(listed.stdout)).toEqual([expect.objectContaining({ name: 'hello-skill', source: 'local://hello-skill' })]);
  });

  it('exits 1 with the documented code when the operation fails, and when the API refuses', async () => {
    const missing = await cli('install', 'cli-ws', 'local://no-such-plugin');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('(source_not_found)');
    expect(missing.stdout).toBe('');
    const asJson = await cli('install', 'cli-ws', 'local://no-such-plugin', '--json');
    expect(JSON.parse(asJson.stdout)).toMatchObject({ status: 'FAILED', error: { code: 'source_not_found' } });
    expect(missing.stderr).toMatch(/Stage\s+failed/);

    const refused = await cli('install', 'cli-ws', 'github://acme/repo');
    expect(refused).toMatchObject({ code: 1, stdout: '' });
    expect(refused.stderr).toContain('(unpinned_source, HTTP 422)');
    const refusedJson = await cli('install', 'cli-ws', 'github://acme/repo', '--json');
    expect(JSON.parse(refusedJson.stdout)).toMatchObject({ code: 'unpinned_source', status: 422 });
  });

  it('plans an install as a file diff, with helm-diff exit codes under --detailed-exitcode, changing nothing', async () => {
    await cli('uninstall', 'cli-ws', 'safe-shell-hook');
    const fresh = await cli('install', 'cli-ws', 'safe-shell-hook', '--dry-run', '--detailed-exitcode');
    expect(fresh.code).toBe(2);
    expect(fresh.stdout).toMatch(/^safe-shell-hook: not installed -> /);
    expect(fresh.stdout).toContain('+ plugin.yaml');
    expect(fresh.stdout).toContain('the workspace would restart');
    expect(existsSync(join(stack.localDir, 'instances', INSTANCE, 'configs', 'plugins', 'safe-shell-hook'))).toBe(false);

    expect((await cli('install', 'cli-ws', 'safe-shell-hook')).code).toBe(0);
    const same = await cli('install', 'cli-ws', 'safe-shell-hook', '--dry-run', '--detailed-exitcode');
    expect(same.code).toBe(0);
    expect(same.stdout).toContain('no changes');
    expect(same.stdout).toContain('the workspace would not restart');
    expect((await cli('install', 'cli-ws', 'safe-shell-hook', '--dry-run')).code).toBe(0);
    const misuse = await cli('install', 'cli-ws', 'safe-shell-hook', '--detailed-exitcode');
    expect(misuse.code).toBe(2);
    expect(misuse.stderr).toContain('--detailed-exitcode goes with --dry-run');
  });

  it('lists revisions and rolls back to the one before', async () => {
    expect((await cli('install', 'cli-ws', 'code-review-rules')).code).toBe(0);
    expect((await cli('install', 'cli-ws', 'code-review-rules')).code).toBe(0);
    const listed = JSON.parse((await cli('revisions', 'cli-ws', 'code-review-rules', '--json')).stdout) as Array<{ revision: number; status: string }>;
    const [active, previous] = listed;
    expect(active?.status).toBe('active');
    expect(previous?.status).toBe('superseded');

    const back = await cli('rollback', 'cli-ws', 'code-review-rules');
    expect(back.code).toBe(0);
    expect(back.stdout).toContain(`rolled back code-review-rules to revision ${previous?.revision}`);
    // The two revisions hold the same bytes: nothing to restart, so nothing to gate.
    expect(back.stderr).toMatch(/Restart\s+skipped/);
    expect(back.stderr).toMatch(/VerifyHealth\s+skipped/);
    const text = (await cli('revisions', 'cli-ws', 'code-review-rules')).stdout;
    expect(text).toMatch(new RegExp(`^${previous?.revision}\\s+active`, 'm'));
    const missing = await cli('rollback', 'cli-ws', 'code-review-rules', '--revision', '999');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('(revision_not_found, HTTP 404)');
    await cli('uninstall', 'cli-ws', 'code-review-rules');
  });

  it('uninstalls, and schedules an uninstall with --at', async () => {
    expect((await cli('install', 'cli-ws', 'code-review-rules')).code).toBe(0);
    const scheduled = await cli('uninstall', 'cli-ws', 'code-review-rules', '--at', '2099-01-01T00:00:00Z');
    expect(scheduled).toMatchObject({ code: 0, stdout: 'code-review-rules: uninstall scheduled for 2099-01-01T00:00:00.000Z\n' });
    const removed = await cli('uninstall', 'cli-ws', 'code-review-rules');
    expect(removed.code).toBe(0);
    expect(removed.stdout).toMatch(/^uninstalled code-review-rules on cli-ws/);
    expect(existsSync(join(stack.localDir, 'instances', INSTANCE, 'configs', 'plugins', 'code-review-rules'))).toBe(false);
  });

  it('answers a usage mistake with exit 2 and a pointer to --help', async () => {
    const run = await cli('list');
    expect(run).toMatchObject({ code: 2, stdout: '' });
    expect(run.stderr).toContain('list takes <workspace>');
    expect((await cli('install', 'cli-ws', 'x', '--bogus')).code).toBe(2);
    expect((await cli('--help')).stdout).toContain('Usage:');
  });

  it('answers --no-wait --json with the operation to follow, at once', async () => {
    const run = await cli('install', 'cli-ws', 'hello-skill', '--no-wait', '--json');
    expect(run.code).toBe(0);
    const accepted = JSON.parse(run.stdout);
    expect(accepted).toMatchObject({ status: 'installing', operationId: expect.any(String) });
    expect(accepted.statusUrl).toBe(`/workspaces/cli-ws/plugins/operations/${accepted.operationId}`);
    expect(run.stderr).not.toMatch(/Stage/);
  });

  it('pulls a plugin into an external workspace with its workspace token, replacing the copy before', async () => {
    await stack.call('PUT', '/admin/workspaces/cli-ext', { token: stack.adminToken, body: { orgId: 'cli-org', runtime: 'external' } });
    const wsToken = (await stack.call('POST', '/admin/workspaces/cli-ext/tokens', { token: stack.adminToken })).body.token;
    const dir = await mkdtemp(join(tmpdir(), 'cli-pull-'));
    try {
      for (let i = 0; i < 2; i++) {
        const run = await cliAs(wsToken, 'pull', 'cli-ext', 'hello-skill', '--dir', dir);
        expect(run.code, run.stderr).toBe(0);
        expect(run.stdout).toMatch(/^pulled hello-skill \(sha256 [0-9a-f]{64}, \d+ files\) into /);
      }
      expect(await readFile(join(dir, 'hello-skill', 'skills', 'hello', 'SKILL.md'), 'utf8')).toContain('hello');
      expect(await readdir(dir)).toEqual(['hello-skill']);
      const refused = await cliAs(wsToken, 'pull', 'cli-ws', 'hello-skill', '--dir', dir);
      expect(refused.code).toBe(1);
      const unwritable = await cliAs(wsToken, 'pull', 'cli-ext', 'hello-skill', '--dir', '/dev/null/plugins');
      expect(unwritable.code).toBe(1);
      expect(unwritable.stderr).toMatch(/^error: .*\n$/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
