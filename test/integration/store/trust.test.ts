import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';
import { getTrust, NO_TRUST_VERSION, replaceTrust } from '../../../lambdas/store/trust.js';
import { upsertWorkspace } from '../../../lambdas/store/workspaces.js';

/** SPEC §11's trust document in PostgreSQL: a conditional replacement only over the version it names. */
let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
  await upsertWorkspace(t.db, 'ws-etag', { orgId: 'org-etag', runtime: 'claude-code', instanceId: null, transport: 'auto', status: 'online' });
});
afterAll(async () => {
  await t?.close();
});

const doc = (revokedKeys: string[]) => ({ requireSignature: false, signers: [], revokedKeys });

describe('replacing an org’s trust document conditionally', () => {
  it('creates it over "never put" only once, and replaces it only over the version read', async () => {
    const created = await replaceTrust(t.db, 'org-etag', doc(['SHA256:one']), NO_TRUST_VERSION);
    expect(created?.revokedKeys).toEqual(['SHA256:one']);
    expect(await replaceTrust(t.db, 'org-etag', doc(['SHA256:lost']), NO_TRUST_VERSION)).toBeNull();

    const read = (await getTrust(t.db, 'org-etag'))!;
    expect(read.version).toBe(created?.version);
    const next = await replaceTrust(t.db, 'org-etag', doc(['SHA256:two']), read.version);
    expect(next?.version).not.toBe(read.version);
    // The version read before that replacement no longer matches: nothing is stored.
    expect(await replaceTrust(t.db, 'org-etag', doc(['SHA256:stale']), read.version)).toBeNull();
    expect(await replaceTrust(t.db, 'org-etag', doc(['SHA256:stale']), 'not-a-version')).toBeNull();
    expect((await getTrust(t.db, 'org-etag'))?.revokedKeys).toEqual(['SHA256:two']);
    // Without a version it replaces whatever is there.
    expect((await replaceTrust(t.db, 'org-etag', doc([])))?.revokedKeys).toEqual([]);
  });
});
