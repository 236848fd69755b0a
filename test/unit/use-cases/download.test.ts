import { describe, expect, it } from 'vitest';
import { download } from '../../../lambdas/use-cases/download.js';
import type { Principal } from '../../../lambdas/use-cases/access.js';
import { logger } from '../../../lambdas/shared/logger.js';
import { fakeAllowlist, fakeSources, fakeStager, fakeWorkspaces, workspace } from '../../support/operation-fakes.js';

const wsToken: Principal = { kind: 'workspace', orgId: 'acme', workspaceId: 'ext', prefix: 'mpd_w_aaaaaaaa' };

const setup = (stagedName = 'hello', allowed: Record<string, string[]> = {}) => ({
  workspaces: fakeWorkspaces([workspace('ext', { runtime: 'external' }), workspace('ws')]),
  sources: fakeSources,
  allowlist: fakeAllowlist(allowed),
  stager: fakeStager(stagedName),
});

describe('download', () => {
  it('stages the registry copy by default and hands out its URL, name, source and hash', async () => {
    const deps = setup();
    expect(await download(deps, logger, { principal: wsToken, workspaceId: 'ext', plugin: 'hello' })).toEqual({
      url: 'https://s3.example/staged/x/hello.tar.gz?sig',
      plugin: 'hello',
      source: 'local://hello',
      sha256: 'c'.repeat(64),
    });
    expect(deps.stager.staged).toEqual(['local://hello']);
  });

  it('judges the allowlist with the source, so a pinned entry can match it', async () => {
    const deps = setup();
    await download(deps, logger, { principal: wsToken, workspaceId: 'ext', plugin: 'hello', source: 'github://acme/hello#v1' });
    expect(deps.allowlist.checked).toEqual([['acme', 'hello', 'github://acme/hello#v1']]);
  });

  it('refuses a source that resolves to another plugin, naming both', async () => {
    const err = await download(setup('other'), logger, { principal: wsToken, workspaceId: 'ext', plugin: 'hello', source: 'github://acme/hello#v1' }).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'name_mismatch', details: { resolved_name: 'other', requested_name: 'hello' } });
  });

  it('refuses a plugin the org allowlist does not have before staging anything', async () => {
    const deps = setup('hello', { acme: ['lint'] });
    const err = await download(deps, logger, { principal: wsToken, workspaceId: 'ext', plugin: 'hello' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'plugin_not_allowed', message: 'plugin "hello" is not in the org allowlist' });
    expect(deps.stager.staged).toEqual([]);
  });

  it('lets a workspace token pull only for its own workspace, and no org token at all', async () => {
    await expect(download(setup(), logger, { principal: wsToken, workspaceId: 'ws', plugin: 'hello' })).rejects.toMatchObject({ code: 'workspace_not_found' });
    await expect(
      download(setup(), logger, { principal: { kind: 'org', orgId: 'acme', prefix: 'p' }, workspaceId: 'ext', plugin: 'hello' }),
    ).rejects.toMatchObject({ code: 'forbidden' });
  });
});
