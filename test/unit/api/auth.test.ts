import { describe, expect, it } from 'vitest';
import { bearerToken, isAdminToken } from '../../../lambdas/api/auth.js';
import { authorizeOrg, authorizeWorkspace, requireAdmin, type Principal } from '../../../lambdas/use-cases/access.js';
import { AppError } from '../../../lambdas/shared/errors.js';
import type { Workspace } from '../../../lambdas/shared/types.js';

const workspace = (id: string, orgId: string): Workspace => ({ id, orgId, runtime: 'claude-code', instanceId: null, transport: 'auto', status: 'online' });
const admin: Principal = { kind: 'admin', prefix: 'admin' };
const orgA: Principal = { kind: 'org', orgId: 'org-a', prefix: 'mpd_o_aaaa' };
const wsA1: Principal = { kind: 'workspace', orgId: 'org-a', workspaceId: 'ws-a1', prefix: 'mpd_w_aaaa' };

function codeOf(fn: () => void): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return err instanceof AppError ? `${err.status} ${err.code}` : String(err);
  }
}

describe('bearer tokens', () => {
  it('reads only a well-formed Bearer header', () => {
    expect(bearerToken('Bearer abc')).toBe('abc');
    expect(bearerToken('bearer abc ')).toBe('abc');
    expect(bearerToken('Basic abc')).toBeNull();
    expect(bearerToken('Bearer a b')).toBeNull();
    expect(bearerToken(undefined)).toBeNull();
  });

  it('matches the admin token exactly and never when none is configured', () => {
    expect(isAdminToken('s3cret', 's3cret')).toBe(true);
    expect(isAdminToken('s3cre', 's3cret')).toBe(false);
    expect(isAdminToken('s3cret ', 's3cret')).toBe(false);
    expect(isAdminToken('', undefined)).toBe(false);
  });
});

describe('workspace access', () => {
  it('lets an org token manage its own workspaces', () => {
    expect(codeOf(() => authorizeWorkspace(orgA, 'ws-a1', workspace('ws-a1', 'org-a'), 'manage'))).toBeUndefined();
  });

  it("answers 404, not 403, for another org's workspace so ids do not leak", () => {
    expect(codeOf(() => authorizeWorkspace(orgA, 'ws-b1', workspace('ws-b1', 'org-b'), 'manage'))).toBe('404 workspace_not_found');
    expect(codeOf(() => authorizeWorkspace(orgA, 'ws-b1', workspace('ws-b1', 'org-b'), 'read'))).toBe('404 workspace_not_found');
  });

  it('answers the same 404 for a workspace that does not exist', () => {
    expect(codeOf(() => authorizeWorkspace(orgA, 'ghost', null, 'read'))).toBe('404 workspace_not_found');
  });

  it('lets a workspace token read and download only its own workspace', () => {
    expect(codeOf(() => authorizeWorkspace(wsA1, 'ws-a1', workspace('ws-a1', 'org-a'), 'read'))).toBeUndefined();
    expect(codeOf(() => authorizeWorkspace(wsA1, 'ws-a1', workspace('ws-a1', 'org-a'), 'download'))).toBeUndefined();
    expect(codeOf(() => authorizeWorkspace(wsA1, 'ws-a1', workspace('ws-a1', 'org-a'), 'manage'))).toBe('403 forbidden');
    expect(codeOf(() => authorizeWorkspace(wsA1, 'ws-a2', workspace('ws-a2', 'org-a'), 'read'))).toBe('404 workspace_not_found');
  });

  it('keeps downloads to workspace and admin tokens', () => {
    expect(codeOf(() => authorizeWorkspace(orgA, 'ws-a1', workspace('ws-a1', 'org-a'), 'download'))).toBe('403 forbidden');
    expect(codeOf(() => authorizeWorkspace(admin, 'ws-a1', workspace('ws-a1', 'org-a'), 'download'))).toBeUndefined();
  });

  it('lets admin through everywhere, leaving unknown ids to the route', () => {
    expect(codeOf(() => authorizeWorkspace(admin, 'ghost', null, 'manage'))).toBeUndefined();
  });
});

describe('org and admin routes', () => {
  it('lets an org token see only its own org', () => {
    expect(codeOf(() => authorizeOrg(orgA, 'org-a', true))).toBeUndefined();
    expect(codeOf(() => authorizeOrg(orgA, 'org-b', true))).toBe('404 org_not_found');
    expect(codeOf(() => authorizeOrg(wsA1, 'org-a', true))).toBe('403 forbidden');
    expect(codeOf(() => authorizeOrg(admin, 'org-z', false))).toBe('404 org_not_found');
  });

  it('keeps admin routes to the admin token', () => {
    expect(codeOf(() => requireAdmin(orgA))).toBe('403 forbidden');
    expect(codeOf(() => requireAdmin(wsA1))).toBe('403 forbidden');
    expect(codeOf(() => requireAdmin(admin))).toBeUndefined();
  });
});
