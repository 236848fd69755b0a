import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { fingerprint, generateSigningKey, parsePublicKey, signMessage, type TrustDocument } from '@molecule/plugins-sdk/signing';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';
import { FakeCodeload } from '../../support/codeload.js';
import { ACC_GOOD_FILES, ACC_GOOD_HASH, collect, listTarGz, pluginEntries, tarGz } from '../../support/archives.js';
import { fakeKeptTarballs, keepsTarballsInMemory } from '../../support/operation-fakes.js';
import { upsertWorkspace } from '../../../lambdas/store/workspaces.js';
import { createOperation, getOperation, setStaged } from '../../../lambdas/store/operations.js';
import { addRevision } from '../../../lambdas/store/revisions.js';
import { replaceTrust } from '../../../lambdas/store/trust.js';
import { replaceAllowlist } from '../../../lambdas/store/allowlist.js';
import { stageStep } from '../../../lambdas/workflow/steps/stage.js';
import { checkAllowlistStep } from '../../../lambdas/workflow/steps/check-allowlist.js';
import { recordFailureStep } from '../../../lambdas/workflow/steps/record-failure.js';
import { postgresStepPorts } from '../../../lambdas/workflow/adapters/postgres.js';
import { createResolvers } from '../../../lambdas/plugins/source.js';
import { loadConfig } from '../../../lambdas/shared/config.js';
import type { Workspace } from '../../../lambdas/shared/types.js';
import { createHash } from 'node:crypto';

/**
 * Stage's signature check (SPEC §11) on a real database, S3 mocked: the verdict against the org's
 * trust at the step's clock, what the operation records, a refusal's context carried past Step
 * Functions to the closed operation, a plan that says what would refuse the install, and a
 * rollback that judges the signer its revision recorded.
 */
let t: TestDatabase;
let workspace: Workspace;
let seq = 0;
const s3 = mockClient(S3Client);
const codeload = new FakeCodeload();
const tarballs = fakeKeptTarballs();
/** Every tarball uploaded, by key. */
const uploaded = new Map<string, Buffer>();
const NOW = new Date('2026-03-01T12:00:00Z');

const alice = generateSigningKey('alice@laptop');
const mallory = generateSigningKey('mallory@laptop');
const fp = (key: { publicKey: string }) => fingerprint(parsePublicKey(key.publicKey));
const MANIFEST_SHA = createHash('sha256')
  .update(ACC_GOOD_FILES['plugin.yaml'] ?? '')
  .digest('hex');
const STATEMENT = `molecule-plugin acc-good 1.0.0 ${ACC_GOOD_HASH} ${MANIFEST_SHA}`;
const sign = (key: { privateKey: string }, message = STATEMENT, namespace = 'molecule-plugin') =>
  signMessage({ privateKey: key.privateKey, message, namespace });
const trust = (over: Partial<TrustDocument> = {}): TrustDocument => ({
  requireSignature: false,
  signers: [{ principal: 'alice@example.com', publicKey: alice.publicKey }],
  revokedKeys: [],
  ...over,
});

function stage() {
  const config = { ...loadConfig({}), githubCodeloadUrl: codeload.url, stagingBucket: 'staging' };
  const client = new S3Client({ region: 'us-east-1' });
  return stageStep({
    ports: postgresStepPorts(t.db),
    s3: client,
    resolvers: createResolvers({ s3: client, config }),
    config,
    tarballs,
    clock: { now: () => NOW },
  });
}

/** A fresh operation and its accepted state for `source`. */
async function accepted(source: string, over: Record<string, unknown> = {}) {
  const operationId = `00000000-0000-4000-8000-${String(++seq).padStart(12, '0')}`;
  const kind = (over.kind as 'install' | 'plan' | 'rollback' | undefined) ?? 'install';
  await createOperation(t.db, {
    id: operationId,
    workspaceId: workspace.id,
    orgId: workspace.orgId,
    kind,
    plugin: null,
    source,
    sha256: null,
    idempotencyKey: null,
    requestHash: null,
    actorPrefix: 'test',
    executionArn: null,
  });
  return { operationId, kind, workspace, source, plugin: null, expectedSha256: null, restart: true, uninstallAt: null, ...over };
}

/** Serves acc-good at `ref`, with a root plugin.sig when `signature` is given. */
function serve(ref: string, signature?: string) {
  codeload.set('acme/acc-good', ref, () => tarGz(pluginEntries({ ...ACC_GOOD_FILES, ...(signature ? { 'plugin.sig': signature } : {}) }, `acc-good-${ref}`)));
  return `github://acme/acc-good#${ref}`;
}

/** What RecordFailure gets from Step Functions when Stage fails: the error's name and message, nothing else. */
async function failThroughStepFunctions(state: { operationId: string }, err: Error) {
  const Cause = JSON.stringify({ errorType: err.name, errorMessage: err.message, trace: [] });
  await recordFailureStep({ ports: postgresStepPorts(t.db), s3: new S3Client({ region: 'us-east-1' }), ...keepsTarballsInMemory() })({
    ...state,
    phase: 'accepted',
    error: { Error: err.name, Cause },
  });
  return getOperation(t.db, state.operationId);
}

beforeAll(async () => {
  t = await createTestDatabase();
  workspace = (await upsertWorkspace(t.db, 'ws-sig', { orgId: 'org-sig', runtime: 'claude-code', instanceId: 'i-0123456789abcdef0', transport: 'ssm' }))
    .workspace;
  await codeload.start();
});
afterAll(async () => {
  await codeload.stop();
  await t?.close();
});
beforeEach(async () => {
  s3.reset();
  s3.on(PutObjectCommand).callsFake(async (input: { Key: string; Body: NodeJS.ReadableStream }) => {
    uploaded.set(input.Key, await collect(input.Body));
    return {};
  });
  await replaceTrust(t.db, 'org-sig', trust());
  await replaceAllowlist(t.db, 'org-sig', [], 'test');
});

describe('Stage: a signed plugin', () => {
  it('records a trusted signer on the operation, and stages the plugin without its plugin.sig', async () => {
    const state = await stage()(await accepted(serve('trusted', sign(alice))));
    expect((await getOperation(t.db, state.operationId))?.signer).toEqual({ principal: 'alice@example.com', fingerprint: fp(alice) });
    const names = (await listTarGz(uploaded.get(state.staged.key) ?? Buffer.alloc(0))).map((e) => e.name);
    expect(names).not.toContain('plugin.sig');
    expect(names).toContain('plugin.yaml');
    expect(state.staged).toMatchObject({ sha256: ACC_GOOD_HASH, warnings: expect.any(Array) });
    expect(state.staged).not.toHaveProperty('signed');
  });

  it('installs one by a key the org does not list with the warning untrusted_signer, while signatures are optional', async () => {
    const state = await stage()(await accepted(serve('unknown', sign(mallory))));
    const op = await getOperation(t.db, state.operationId);
    expect(op?.warnings).toContain(`untrusted_signer: ${fp(mallory)}`);
    expect(op?.signer).toBeUndefined();
    expect(state.staged.warnings).toContain(`untrusted_signer: ${fp(mallory)}`);
  });

  it('takes the signature in the request over a plugin.sig', async () => {
    const state = await stage()(await accepted(serve('body', sign(mallory)), { signature: sign(alice) }));
    expect((await getOperation(t.db, state.operationId))?.signer).toEqual({ principal: 'alice@example.com', fingerprint: fp(alice) });
    expect(state).not.toHaveProperty('signature');
  });

  it('refuses a signature of another version, uploads nothing, and keeps reason, fingerprint and statement on the closed operation', async () => {
    const state = await accepted(serve('moved', sign(alice, STATEMENT.replace(' 1.0.0 ', ' 0.9.0 '))));
    const err = await stage()(state).catch((e: Error) => e);
    expect(err).toMatchObject({ name: 'SignatureInvalid', code: 'signature_invalid', status: 422 });
    expect(s3).not.toHaveReceivedCommand(PutObjectCommand);
    const op = await failThroughStepFunctions(state, err as Error);
    expect(op).toMatchObject({
      status: 'FAILED',
      error: { code: 'signature_invalid', httpStatus: 422, reason: 'bad_signature', fingerprint: fp(alice), statement: STATEMENT },
    });
  });

  it("refuses an unknown key and no signature at all once the org requires signatures, judged at the step's clock", async () => {
    await replaceTrust(t.db, 'org-sig', trust({ requireSignature: true }));
    const unknown = await accepted(serve('required-unknown', sign(mallory)));
    const refused = await stage()(unknown).catch((e: Error) => e);
    expect((await failThroughStepFunctions(unknown, refused as Error))?.error).toMatchObject({ code: 'signature_invalid', reason: 'unknown_key' });

    const unsigned = await accepted(serve('required-unsigned'));
    const missing = await stage()(unsigned).catch((e: Error) => e);
    expect((await failThroughStepFunctions(unsigned, missing as Error))?.error).toEqual({
      code: 'signature_required',
      httpStatus: 403,
      message: 'this org requires plugins to be signed, and this one has no signature',
    });

    // The window is read at the step's clock (NOW), not at any time the signature carries.
    await replaceTrust(
      t.db,
      'org-sig',
      trust({ requireSignature: true, signers: [{ principal: 'alice@example.com', publicKey: alice.publicKey, validBefore: '2026-02-01T00:00:00Z' }] }),
    );
    const expired = await accepted(serve('expired', sign(alice)));
    expect(await stage()(expired).catch((e: Error) => e)).toMatchObject({
      code: 'signature_invalid',
      details: { reason: 'key_expired', fingerprint: fp(alice) },
    });
  });
});

describe('Stage: a plan of a plugin whose signature would be refused', () => {
  it('does not fail: it says what would refuse the install, and CheckAllowlist keeps that answer', async () => {
    await replaceTrust(t.db, 'org-sig', trust({ revokedKeys: [fp(alice)] }));
    await replaceAllowlist(t.db, 'org-sig', ['other'], 'test');
    const staged = await stage()(await accepted(serve('plan', sign(alice)), { kind: 'plan' }));
    expect(staged).toMatchObject({ phase: 'staged', blockedBy: 'signature_invalid' });
    expect(staged.staged.warnings).toContainEqual(expect.stringMatching(/^signature_invalid: the signing key .* is revoked$/));
    const checked = await checkAllowlistStep({ ports: postgresStepPorts(t.db) })(staged);
    expect(checked).toMatchObject({ blockedBy: 'signature_invalid' });
  });
});

describe('Stage: a rollback', () => {
  /** A revision of acc-good recorded by an install signed by `signer` (null: unsigned), its tarball kept. */
  async function revision(signer: { principal: string; fingerprint: string } | null) {
    const install = await accepted(serve('v1'));
    await setStaged(t.db, install.operationId, {
      plugin: 'acc-good',
      sha256: ACC_GOOD_HASH,
      warnings: [],
      files: [{ path: 'plugin.yaml', sha256: MANIFEST_SHA, size: 1 }],
      signer,
    });
    const added = await addRevision(t.db, {
      workspaceId: workspace.id,
      plugin: 'acc-good',
      operationId: install.operationId,
      version: '1.0.0',
      source: install.source,
      sha256: ACC_GOOD_HASH,
      skills: [],
      runtimes: [],
      status: 'active',
      keep: 5,
    });
    await tarballs.keep({ bucket: 'staging', key: 'x' }, ACC_GOOD_HASH);
    return accepted(install.source, { kind: 'rollback', plugin: 'acc-good', revision: added.revision, expectedSha256: ACC_GOOD_HASH });
  }

  it('judges the signer the revision recorded under the trust of now: trusted, revoked since, or unsigned while required', async () => {
    const signer = { principal: 'alice@example.com', fingerprint: fp(alice) };
    const kept = await stage()(await revision(signer));
    expect((await getOperation(t.db, kept.operationId))?.signer).toEqual(signer);

    await replaceTrust(t.db, 'org-sig', trust({ revokedKeys: [fp(alice)] }));
    expect(await stage()(await revision(signer)).catch((e: unknown) => e)).toMatchObject({
      code: 'signature_invalid',
      details: { reason: 'revoked_key', fingerprint: fp(alice), statement: STATEMENT },
    });

    await replaceTrust(t.db, 'org-sig', trust({ requireSignature: true }));
    expect(await stage()(await revision(null)).catch((e: unknown) => e)).toMatchObject({ code: 'signature_required' });
  });
});
