import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';
import { upsertWorkspace } from '../../../lambdas/store/workspaces.js';
import { allowlistFacts, getAllowlist, replaceAllowlist } from '../../../lambdas/store/allowlist.js';
import { allowlistVerdict as judge, requireAllowedPlugin as require_ } from '../../../lambdas/plugins/allowlist-policy.js';
import { cleanupCandidates, upsertInstalled } from '../../../lambdas/store/installed.js';
import { originOf } from '../../../lambdas/plugins/origin.js';

// The store's facts as the policy judges them (lambdas/plugins/allowlist-policy.ts), as every caller does.
const allowlistVerdict = async (db: TestDatabase['db'], orgId: string, name: string, source?: string) =>
  judge(await allowlistFacts(db, orgId, name, source ?? null));
const isPluginAllowed = async (db: TestDatabase['db'], orgId: string, name: string, source?: string) =>
  (await allowlistVerdict(db, orgId, name, source)).allowed;
const requireAllowedPlugin = async (db: TestDatabase['db'], orgId: string, name: string, source?: string) =>
  require_(await allowlistFacts(db, orgId, name, source ?? null), name, source ?? null);

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await t?.close();
});

const org = async (id: string) => {
  await upsertWorkspace(t.db, `ws-${id}`, { orgId: id, runtime: 'claude-code' });
  return id;
};

describe('allowlist', () => {
  it('allows everything while empty and only listed plugins once set', async () => {
    await upsertWorkspace(t.db, 'ws-al', { orgId: 'org-al', runtime: 'claude-code' });
    expect(await isPluginAllowed(t.db, 'org-al', 'anything')).toBe(true);
    await replaceAllowlist(t.db, 'org-al', ['alpha', 'beta', 'alpha'], 'ops@example.com');
    expect(await isPluginAllowed(t.db, 'org-al', 'alpha')).toBe(true);
    expect(await isPluginAllowed(t.db, 'org-al', 'gamma')).toBe(false);
  });

  it('replaces the list as a whole and keeps enabled_at for names that stay', async () => {
    await upsertWorkspace(t.db, 'ws-al2', { orgId: 'org-al2', runtime: 'claude-code' });
    const before = await replaceAllowlist(t.db, 'org-al2', ['alpha', 'beta'], 'first');
    const after = await replaceAllowlist(t.db, 'org-al2', ['beta', 'gamma'], 'second');
    expect(after.map((e) => e.plugin_name)).toEqual(['beta', 'gamma']);
    expect(after[0]).toEqual(before[1]);
    expect(after[1]!.enabled_by).toBe('second');
    await replaceAllowlist(t.db, 'org-al2', [], 'third');
    expect(await getAllowlist(t.db, 'org-al2')).toEqual([]);
  });
});

describe('allowlist entries pinned to a source (SPEC §4)', () => {
  it('stores pins normalized and returns source only for pinned entries', async () => {
    const id = await org('org-pin-get');
    const list = await replaceAllowlist(
      t.db,
      id,
      ['hello-skill', { name: 'code-review-rules', source: 'local://code-review-rules' }, { name: 'lint', source: 'GitHub://Acme/*' }],
      'ops',
    );
    expect(list.map(({ enabled_at: _, ...e }) => e)).toEqual([
      { plugin_name: 'code-review-rules', source: 'local://code-review-rules', enabled_by: 'ops' },
      { plugin_name: 'hello-skill', enabled_by: 'ops' },
      { plugin_name: 'lint', source: 'github://acme/*', enabled_by: 'ops' },
    ]);
    expect(list[1]).not.toHaveProperty('source');
    expect(await getAllowlist(t.db, id)).toEqual(list);
  });

  it('counts a changed pin as enabled anew and keeps an unchanged entry as it was', async () => {
    const id = await org('org-pin-change');
    const [first] = await replaceAllowlist(t.db, id, [{ name: 'lint', source: 'github://acme/*' }], 'first');
    const [same] = await replaceAllowlist(t.db, id, [{ name: 'lint', source: 'github://acme/*' }], 'second');
    expect(same).toEqual(first);
    const [moved] = await replaceAllowlist(t.db, id, [{ name: 'lint', source: 'github://acme/lint' }], 'third');
    expect(moved).toMatchObject({ source: 'github://acme/lint', enabled_by: 'third' });
    const [unpinned] = await replaceAllowlist(t.db, id, ['lint'], 'fourth');
    expect(unpinned).toMatchObject({ plugin_name: 'lint', enabled_by: 'fourth' });
    expect(unpinned).not.toHaveProperty('source');
  });

  it('refuses a bad pin, and one name pinned two ways, leaving the list as it was', async () => {
    const id = await org('org-pin-bad');
    await replaceAllowlist(t.db, id, ['keep'], 'ops');
    await expect(replaceAllowlist(t.db, id, [{ name: 'lint', source: 'github://acme/lint#v1' }], 'ops')).rejects.toMatchObject({
      code: 'invalid_source',
    });
    await expect(
      replaceAllowlist(
        t.db,
        id,
        [
          { name: 'lint', source: 'github://acme/*' },
          { name: 'lint', source: 'github://other/*' },
        ],
        'ops',
      ),
    ).rejects.toMatchObject({ code: 'invalid_request' });
    expect(await replaceAllowlist(t.db, id, ['x', { name: 'x' }], 'ops')).toHaveLength(1);
    await replaceAllowlist(t.db, id, ['keep'], 'ops');
    expect((await getAllowlist(t.db, id)).map((e) => e.plugin_name)).toEqual(['keep']);
  });

  it('matches an exact origin or one repository under a pinned owner, never a look-alike', async () => {
    const id = await org('org-pin-match');
    await replaceAllowlist(
      t.db,
      id,
      [
        { name: 'code-review-rules', source: 'local://code-review-rules' },
        { name: 'lint', source: 'github://acme/*' },
        { name: 'acme', source: 'github://acme/*' },
        'free',
      ],
      'ops',
    );
    const allowed = (name: string, source?: string) => isPluginAllowed(t.db, id, name, source);
    expect(await allowed('code-review-rules', originOf('local://code-review-rules'))).toBe(true);
    expect(await allowed('code-review-rules', 'code-review-rules')).toBe(true);
    expect(await allowed('code-review-rules', 'github://anyone/victim#ref')).toBe(false);
    expect(await allowed('lint', 'github://acme/lint#v2')).toBe(true);
    expect(await allowed('lint', 'github://ACME/other-repo#v1')).toBe(true);
    expect(await allowed('lint', 'github://acme-evil/lint#v1')).toBe(false);
    expect(await allowed('acme', 'github://acme')).toBe(false);
    expect(await allowed('lint', 'local://lint')).toBe(false);
    expect(await allowed('free', 'github://anyone/free#v1')).toBe(true);
    expect(await allowed('missing', 'local://missing')).toBe(false);
    // Without an origin a pin cannot be checked, so the pinned entry does not allow the plugin.
    expect(await allowed('lint')).toBe(false);
    expect(await allowed('free')).toBe(true);
    expect(await allowlistVerdict(t.db, id, 'lint', 'github://acme-evil/lint#v1')).toEqual({
      allowed: false,
      reason: 'origin_not_pinned',
      pin: 'github://acme/*',
    });
    expect(await allowlistVerdict(t.db, id, 'missing')).toEqual({ allowed: false, reason: 'not_listed' });
  });

  it('refuses with the documented message and the reason', async () => {
    const id = await org('org-pin-require');
    await replaceAllowlist(t.db, id, [{ name: 'code-review-rules', source: 'local://code-review-rules' }, 'free'], 'ops');
    await expect(requireAllowedPlugin(t.db, id, 'other', 'local://other')).rejects.toMatchObject({
      code: 'plugin_not_allowed',
      status: 403,
      message: 'plugin "other" is not in the org allowlist',
    });
    await expect(requireAllowedPlugin(t.db, id, 'code-review-rules', 'github://anyone/victim#ref')).rejects.toMatchObject({
      code: 'plugin_not_allowed',
      message: 'plugin "code-review-rules" is not in the org allowlist: it is allowed only from local://code-review-rules, not from github://anyone/victim',
    });
    await expect(requireAllowedPlugin(t.db, id, 'code-review-rules', 'local://code-review-rules')).resolves.toBeUndefined();
    await expect(requireAllowedPlugin(t.db, id, 'free')).resolves.toBeUndefined();
  });

  it("refuses, while the org has an allowlist, a manifest name that is not its origin's own name", async () => {
    const id = await org('org-own-name');
    await expect(requireAllowedPlugin(t.db, id, 'code-review-rules', 'github://anyone/victim#ref')).resolves.toBeUndefined();
    await replaceAllowlist(t.db, id, ['code-review-rules', 'victim'], 'ops');
    await expect(requireAllowedPlugin(t.db, id, 'code-review-rules', 'github://anyone/victim#ref')).rejects.toMatchObject({
      code: 'plugin_not_allowed',
      message: 'plugin "code-review-rules" is not in the org allowlist: its source github://anyone/victim is the plugin "victim"',
    });
    await expect(requireAllowedPlugin(t.db, id, 'victim', 'github://anyone/Victim#ref')).resolves.toBeUndefined();
    await expect(requireAllowedPlugin(t.db, id, 'code-review-rules', 'clawhub://code-review-rules@1.0.0')).resolves.toBeUndefined();
  });
});

describe('plugin_origin() in SQL', () => {
  it('gives the same origin as originOf for every kind of source', async () => {
    const sources = [
      'github://acme/lint#v1.2.0',
      'GitHub://Acme/Lint#feature/x@y',
      'github://acme/lint',
      'local://code-review-rules',
      'LOCAL://code-review-rules',
      'code-review-rules',
      'clawhub://summarize@1.4.0',
      'clawhub://summarize',
      'x+y.z-1://Some/Thing#ref',
      'Clawhub://a.b@1@2',
    ];
    const { rows } = await t.db.query<{ origin: string }>('SELECT plugin_origin(s) AS origin FROM unnest($1::text[]) WITH ORDINALITY AS u(s, i) ORDER BY i', [
      sources,
    ]);
    expect(rows.map((r) => r.origin)).toEqual(sources.map(originOf));
  });
});

describe('cleanup of plugins the allowlist no longer allows', () => {
  it('honours pins: a plugin installed from another origin than its pin is a candidate', async () => {
    const id = await org('org-pin-clean');
    const base = { workspaceId: `ws-${id}`, version: '1', sha256: 'c'.repeat(64), skills: [], runtimes: [], uninstallAt: null };
    await upsertInstalled(t.db, { ...base, name: 'code-review-rules', source: 'github://anyone/victim#ref' });
    await upsertInstalled(t.db, { ...base, name: 'lint', source: 'github://Acme/lint#v3' });
    await upsertInstalled(t.db, { ...base, name: 'hello-skill', source: 'hello-skill' });
    await upsertInstalled(t.db, { ...base, name: 'tool', source: 'github://acme-evil/tool#v1' });
    await replaceAllowlist(
      t.db,
      id,
      [
        { name: 'code-review-rules', source: 'local://code-review-rules' },
        { name: 'lint', source: 'github://acme/*' },
        { name: 'tool', source: 'github://acme/*' },
        'hello-skill',
      ],
      'ops',
    );
    const candidates = (await cleanupCandidates(t.db, 100)).filter((c) => c.workspaceId === `ws-${id}`);
    expect(candidates.map((c) => [c.name, c.reason]).sort()).toEqual([
      ['code-review-rules', 'not_in_allowlist'],
      ['tool', 'not_in_allowlist'],
    ]);
  });
});
