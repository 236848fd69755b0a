import { describe, expect, it } from 'vitest';
import { mintOrgToken, mintWorkspaceToken, putWorkspace, revokeToken } from '../../../lambdas/use-cases/admin.js';
import { logger } from '../../../lambdas/shared/logger.js';
import { fakeTokens, fakeWorkspaces, workspace } from '../../support/operation-fakes.js';

const setup = () => ({ workspaces: fakeWorkspaces([workspace('ws'), workspace('gone', { status: 'removed' })]), tokens: fakeTokens() });

describe('admin use cases', () => {
  it('creates a workspace (201) then updates it, and refuses an instance id that is not one', async () => {
    const deps = setup();
    const body = { orgId: 'acme', runtime: 'claude-code', instanceId: 'i-0123456789abcdef1' };
    expect((await putWorkspace(deps, logger, { workspaceId: 'new', body })).created).toBe(true);
    expect((await putWorkspace(deps, logger, { workspaceId: 'new', body })).created).toBe(false);
    await expect(putWorkspace(deps, logger, { workspaceId: 'new', body: { ...body, instanceId: 'box-1' } })).rejects.toMatchObject({
      code: 'invalid_request',
      message: 'instanceId must look like i-0123456789abcdef0',
    });
  });

  it('mints tokens only for live workspaces and known orgs', async () => {
    const deps = setup();
    expect(await mintWorkspaceToken(deps, logger, { workspaceId: 'ws' })).toMatchObject({ prefix: expect.stringMatching(/^mpd_w_/) });
    expect(deps.tokens.minted).toEqual([{ kind: 'workspace', orgId: 'acme', workspaceId: 'ws' }]);
    await expect(mintWorkspaceToken(deps, logger, { workspaceId: 'gone' })).rejects.toMatchObject({ code: 'workspace_not_found' });
    await expect(mintOrgToken(deps, logger, { orgId: 'nobody' })).rejects.toMatchObject({ code: 'org_not_found' });
  });

  it('answers 404 to revoking a prefix with no live token', async () => {
    const deps = setup();
    const { prefix } = await mintOrgToken(deps, logger, { orgId: 'acme' });
    expect(await revokeToken(deps, logger, { prefix })).toEqual({ prefix, revoked: 1 });
    await expect(revokeToken(deps, logger, { prefix })).rejects.toMatchObject({ code: 'not_found' });
  });
});
