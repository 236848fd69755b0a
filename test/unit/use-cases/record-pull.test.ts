import { describe, expect, it } from 'vitest';
import { recordPull, type RecordPullInput } from '../../../lambdas/use-cases/record-pull.js';
import type { InstallRequest } from '../../../lambdas/use-cases/install.js';
import { logger } from '../../../lambdas/shared/logger.js';
import {
  fakeAllowlist,
  fakeClock,
  fakeInstalled,
  fakeSources,
  fakeStager,
  fakeTrust,
  fakeWorkspaces,
  installed,
  workspace,
} from '../../support/operation-fakes.js';

const extToken: RecordPullInput['principal'] = { kind: 'workspace', orgId: 'acme', workspaceId: 'ext', prefix: 'mpd_w_aaaaaaaa' };

function setup(opts: { stagedName?: string; allowed?: Record<string, string[]>; rows?: ReturnType<typeof installed>[]; requireSignature?: boolean } = {}) {
  return {
    workspaces: fakeWorkspaces([
      workspace('ext', { runtime: 'external', instanceId: null }),
      workspace('ws'),
      workspace('ext-gone', { runtime: 'external', status: 'removed' }),
    ]),
    sources: fakeSources,
    allowlist: fakeAllowlist(opts.allowed),
    installed: fakeInstalled(opts.rows ?? []),
    stager: fakeStager(opts.stagedName ?? 'hello'),
    trust: fakeTrust(opts.requireSignature ? { acme: { requireSignature: true, signers: [], revokedKeys: [] } } : {}),
    clock: fakeClock(),
  };
}

const report = (deps: ReturnType<typeof setup>, body: InstallRequest, over: Partial<RecordPullInput> = {}) =>
  recordPull(deps, logger, { principal: extToken, workspaceId: 'ext', request: () => body, ...over });

describe('recording a plugin an external workspace pulled', () => {
  it('stages the source to learn it and records it as pulled, with its version and content hash', async () => {
    const deps = setup();
    expect(await report(deps, { source: 'local://hello', restart: true })).toEqual({
      plugin: 'hello',
      source: 'local://hello',
      version: '1',
      sha256: 'c'.repeat(64),
    });
    expect(deps.stager.staged).toEqual(['local://hello']);
    expect(await deps.installed.list('ext')).toEqual([
      expect.objectContaining({ name: 'hello', version: '1', source: 'local://hello', sha256: 'c'.repeat(64), installedVia: 'pull', uninstallAt: null }),
    ]);
  });

  it('checks the org allowlist with the source, and records nothing it refuses', async () => {
    const deps = setup({ allowed: { acme: ['lint'] } });
    await expect(report(deps, { source: 'local://hello', restart: true })).rejects.toMatchObject({ code: 'plugin_not_allowed' });
    expect(deps.allowlist.checked).toEqual([['acme', 'hello', 'local://hello']]);
    expect(await deps.installed.list('ext')).toEqual([]);
  });

  it('refuses, and records nothing of, an unsigned plugin where the org requires signatures, as its download would', async () => {
    const deps = setup({ requireSignature: true });
    await expect(report(deps, { source: 'local://hello', restart: true })).rejects.toMatchObject({ code: 'signature_required' });
    expect(await deps.installed.list('ext')).toEqual([]);
  });

  it('refuses a report whose sha256 is not the content hash', async () => {
    const deps = setup();
    await expect(report(deps, { source: 'local://hello', restart: true, sha256: 'd'.repeat(64) })).rejects.toMatchObject({ code: 'integrity_mismatch' });
    expect(await deps.installed.list('ext')).toEqual([]);
  });

  it('does not replace a recorded plugin of another origin unless told to', async () => {
    const deps = setup({ rows: [{ ...installed('ext', 'hello'), installedVia: 'pull' }] });
    await expect(report(deps, { source: 'github://anyone/hello#v1', restart: true })).rejects.toMatchObject({ code: 'plugin_source_conflict', status: 409 });
    expect((await deps.installed.get('ext', 'hello'))?.source).toBe('local://hello');
    await report(deps, { source: 'github://anyone/hello#v1', restart: true, replace: true });
    expect((await deps.installed.get('ext', 'hello'))?.source).toBe('github://anyone/hello#v1');
  });

  it("is the external workspace's own token only: another workspace is hidden, a pushed-to one refused", async () => {
    const deps = setup();
    await expect(report(deps, { source: 'local://hello', restart: true }, { workspaceId: 'ws' })).rejects.toMatchObject({ code: 'workspace_not_found' });
    const wsToken = { ...extToken, workspaceId: 'ws' };
    await expect(report(deps, { source: 'local://hello', restart: true }, { principal: wsToken, workspaceId: 'ws' })).rejects.toMatchObject({
      code: 'forbidden',
    });
    const goneToken = { ...extToken, workspaceId: 'ext-gone' };
    await expect(report(deps, { source: 'local://hello', restart: true }, { principal: goneToken, workspaceId: 'ext-gone' })).rejects.toMatchObject({
      code: 'workspace_not_found',
    });
    expect(deps.stager.staged).toEqual([]);
  });
});
