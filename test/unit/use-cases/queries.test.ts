import { describe, expect, it } from 'vitest';
import { availablePlugins, listInstalledPlugins, registryFor } from '../../../lambdas/use-cases/queries.js';
import type { Principal } from '../../../lambdas/use-cases/access.js';
import type { RegistryEntry, RegistryReader } from '../../../lambdas/use-cases/ports.js';
import { fakeInstalled, fakeWorkspaces, installed, workspace } from '../../support/operation-fakes.js';

const org: Principal = { kind: 'org', orgId: 'acme', prefix: 'mpd_o_aaaaaaaa' };
const entry = (name: string, runtimes: string[]): RegistryEntry => ({ name, version: '1', description: null, author: null, tags: [], skills: [], runtimes });
const registry: RegistryReader = {
  list: async () => [entry('sdk-template', ['claude_code']), entry('hermes-only', ['hermes']), entry('anywhere', [])],
};

describe('runtime names as the SDK writes them', () => {
  const deps = {
    workspaces: fakeWorkspaces([workspace('ws')]),
    installed: fakeInstalled([
      { ...installed('ws', 'sdk-template'), runtimes: ['claude_code'] },
      { ...installed('ws', 'hermes-only'), runtimes: ['Hermes'] },
    ]),
    registry,
  };

  it('a plugin declaring claude_code is supported on a claude-code workspace, and keeps what it declared', async () => {
    const listed = await listInstalledPlugins(deps, { principal: org, workspaceId: 'ws' });
    expect(listed.map((p) => [p.name, p.runtimes, p.supportedOnRuntime])).toEqual([
      ['sdk-template', ['claude_code'], true],
      ['hermes-only', ['Hermes'], false],
    ]);
  });

  it('lists it in available, and under ?runtime= in either spelling', async () => {
    expect((await availablePlugins(deps, { principal: org, workspaceId: 'ws' })).map((e) => e.name)).toEqual(['sdk-template', 'anywhere']);
    expect((await registryFor(registry, 'CLAUDE-CODE')).map((e) => e.name)).toEqual(['sdk-template', 'anywhere']);
    expect((await registryFor(registry, 'claude_code')).map((e) => e.name)).toEqual(['sdk-template', 'anywhere']);
  });
});
