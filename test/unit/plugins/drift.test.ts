import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { contentHash } from '../../../packages/sdk/src/contract/content-hash.js';
import type { HostInventory, HostPluginDir } from '../../../lambdas/delivery/inventory.js';
import { compareWithRecords, drifted, MAX_LISTED_PATHS } from '../../../lambdas/plugins/drift.js';
import { repairTargets } from '../../../lambdas/workflow/steps/inventory.js';
import type { PluginRevision, RevisionFile } from '../../../lambdas/shared/types.js';

/** SPEC §12: the host held against the records, and what each repair mode then mends. */
const sha = (text: string) => createHash('sha256').update(text).digest('hex');
const filesOf = (files: Record<string, string>): RevisionFile[] =>
  Object.entries(files)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([path, text]) => ({ path, sha256: sha(text), size: Buffer.byteLength(text) }));
const hashOf = (files: Record<string, string>) => contentHash(filesOf(files).map((f) => [f.path, f.sha256] as const));

const KIT = { 'plugin.yaml': 'name: kit\nversion: 1.0.0\n', 'rules/a.md': 'a\n', 'rules/b.md': 'b\n' };
const dir = (name: string, files: Record<string, string>, inode = '1'): HostPluginDir => ({
  name,
  inode,
  files: filesOf(files),
  manifest: files['plugin.yaml'] ? Buffer.from(files['plugin.yaml']) : null,
});
const host = (plugins: HostPluginDir[], own: string[] = []): HostInventory => ({
  plugins,
  own: own.map((path) => ({ path, type: 'd' })),
  markers: new Map(),
  skills: new Map(),
});
const revision = (name: string, files: Record<string, string>, n = 1): PluginRevision => ({
  workspaceId: 'ws',
  plugin: name,
  revision: n,
  version: '1.0.0',
  source: `local://${name}`,
  sha256: hashOf(files),
  skills: [],
  runtimes: [],
  files: filesOf(files),
  signer: null,
  operationId: '00000000-0000-4000-8000-000000000001',
  installedAt: '2026-01-01T00:00:00.000Z',
  status: 'active',
  tarballKept: true,
});
const recorded = (name: string, files: Record<string, string>) => ({ name, version: '1.0.0', sha256: hashOf(files) });

describe('a verify against the records', () => {
  it('finds a plugin as recorded ok, with its content hash and version', () => {
    const drift = compareWithRecords(host([dir('kit', KIT)]), { installed: [recorded('kit', KIT)], active: new Map([['kit', revision('kit', KIT)]]) });

    expect(drift.plugins).toEqual([
      { name: 'kit', state: 'ok', recorded: { version: '1.0.0', sha256: hashOf(KIT) }, found: { sha256: hashOf(KIT), version: '1.0.0', skills: [] } },
    ]);
    expect(drifted(drift)).toBe(false);
  });

  it('reports an edited, an added and a removed file against the active revision', () => {
    const now = { 'plugin.yaml': KIT['plugin.yaml'], 'rules/a.md': 'edited\n', 'rules/c.md': 'c\n' };
    const drift = compareWithRecords(host([dir('kit', now)]), { installed: [recorded('kit', KIT)], active: new Map([['kit', revision('kit', KIT)]]) });

    expect(drift.plugins[0]).toMatchObject({
      state: 'modified',
      found: { sha256: hashOf(now) },
      files: { added: ['rules/c.md'], removed: ['rules/b.md'], changed: ['rules/a.md'] },
    });
    expect(drifted(drift)).toBe(true);
  });

  it('counts an edited plugin.yaml as modified, though the content hash leaves it out', () => {
    const now = { ...KIT, 'plugin.yaml': 'name: kit\nversion: 9.9.9\n' };
    const drift = compareWithRecords(host([dir('kit', now)]), { installed: [recorded('kit', KIT)], active: new Map([['kit', revision('kit', KIT)]]) });

    expect(drift.plugins[0]).toMatchObject({ state: 'modified', found: { sha256: hashOf(KIT), version: '9.9.9' }, files: { changed: ['plugin.yaml'] } });
  });

  it('reports a recorded plugin the host lacks as missing, and a plugin nobody recorded as unknown', () => {
    const drift = compareWithRecords(host([dir('stray', { 'rules/x.md': 'x\n' })]), {
      installed: [recorded('kit', KIT)],
      active: new Map([['kit', revision('kit', KIT)]]),
    });

    expect(drift.plugins).toEqual([
      { name: 'kit', state: 'missing', recorded: { version: '1.0.0', sha256: hashOf(KIT) } },
      { name: 'stray', state: 'unknown', found: { sha256: hashOf({ 'rules/x.md': 'x\n' }), version: null, skills: [] } },
    ]);
  });

  it('lists at most 1000 paths per kind of change, and says so', () => {
    const many = Object.fromEntries(Array.from({ length: MAX_LISTED_PATHS + 5 }, (_, i) => [`rules/${i}.md`, `${i}\n`]));
    const drift = compareWithRecords(host([dir('kit', many)]), { installed: [recorded('kit', KIT)], active: new Map([['kit', revision('kit', KIT)]]) });

    expect(drift.plugins[0]?.files?.added).toHaveLength(MAX_LISTED_PATHS);
    expect(drift.warnings).toEqual([expect.stringMatching(/^files_truncated: kit: /)]);
  });

  it('takes everything in .staging for debris, and a previous copy only when its plugin is neither on the host nor recorded', () => {
    const drift = compareWithRecords(
      host(
        [dir('kit', KIT)],
        [
          '.staging/kit.20260101T000000000Z',
          '.previous/.markers',
          '.previous/kit',
          '.previous/.markers/kit.json',
          '.previous/missing',
          '.previous/.markers/missing.json',
          '.previous/gone',
          '.previous/.markers/gone.json',
          '.molecule/kit.json',
          '.molecule/gone.json',
        ],
      ),
      { installed: [recorded('kit', KIT), recorded('missing', KIT)], active: new Map() },
    );

    expect(drift.debris).toEqual(['.molecule/gone.json', '.previous/.markers/gone.json', '.previous/gone', '.staging/kit.20260101T000000000Z']);
  });

  it('names the source the install marker gives only when it was written for that very directory', () => {
    const inventory = host([dir('kit', KIT, '42'), dir('other', KIT, '7')]);
    inventory.markers.set('kit.json', JSON.stringify({ dir: '42', install: { source: 'github://acme/kit#v1' } }));
    inventory.markers.set('other.json', JSON.stringify({ dir: '6', install: { source: 'local://other' } }));

    const { plugins } = compareWithRecords(inventory, { installed: [], active: new Map() });

    expect(plugins.map((p) => p.found?.source)).toEqual(['github://acme/kit#v1', undefined]);
  });

  it('says which declared skills the plugin owns: its copy, file for file', () => {
    const files = {
      'plugin.yaml': 'name: kit\nskills: [mine, edited, absent]\n',
      'skills/mine/SKILL.md': 'm\n',
      'skills/edited/SKILL.md': 'e\n',
      'skills/absent/SKILL.md': 'a\n',
    };
    const inventory = host([dir('kit', files)]);
    inventory.skills.set('mine', new Map([['SKILL.md', sha('m\n')]]));
    inventory.skills.set('edited', new Map([['SKILL.md', sha('changed\n')]]));

    expect(compareWithRecords(inventory, { installed: [], active: new Map() }).plugins[0]?.found?.skills).toEqual(['mine']);
  });
});

describe('what a repair mends', () => {
  const drift = compareWithRecords(
    host([dir('kit', { ...KIT, 'rules/a.md': 'edited\n' }), dir('stray', { 'x.md': 'x\n' }), dir('fine', KIT)], ['.staging/kit.1', '.previous/gone']),
    {
      installed: [recorded('kit', KIT), recorded('missing', KIT), recorded('old', KIT), recorded('fine', KIT)],
      active: new Map([
        ['kit', revision('kit', KIT, 3)],
        ['missing', revision('missing', KIT)],
        ['fine', revision('fine', KIT)],
      ]),
    },
  );
  const active = new Map([
    ['kit', revision('kit', KIT, 3)],
    ['missing', revision('missing', KIT)],
  ]);

  it('reinstalls modified and missing plugins that have an active revision', () => {
    const { targets, warnings } = repairTargets({ mode: 'reinstall' }, drift, active);

    expect(targets.reinstall.map((t) => [t.name, t.revision])).toEqual([
      ['kit', 3],
      ['missing', 1],
    ]);
    expect(targets).toMatchObject({ adopt: [], clean: [] });
    expect(warnings).toEqual([expect.stringMatching(/^not_reinstalled: old: /)]);
  });

  it('adopts modified and unknown plugins', () => {
    expect(repairTargets({ mode: 'adopt' }, drift, active).targets.adopt.map((t) => t.name)).toEqual(['kit', 'stray']);
  });

  it('cleans the debris only', () => {
    expect(repairTargets({ mode: 'clean' }, drift, active).targets).toEqual({ reinstall: [], adopt: [], clean: ['.previous/gone', '.staging/kit.1'] });
  });

  it('keeps to the plugins named, and says what it leaves alone', () => {
    const { targets, warnings } = repairTargets({ mode: 'reinstall', plugins: ['missing', 'fine', 'nowhere'] }, drift, active);

    expect(targets.reinstall.map((t) => t.name)).toEqual(['missing']);
    expect(warnings).toEqual(['not_repaired: fine: ok', 'not_repaired: nowhere: not on the host nor recorded']);
    expect(repairTargets({ mode: 'clean', plugins: ['kit'] }, drift, active).targets.clean).toEqual(['.staging/kit.1']);
  });
});
