import { describe, expect, it } from 'vitest';
import { download } from '../../../lambdas/use-cases/download.js';
import type { Principal } from '../../../lambdas/use-cases/access.js';
import { logger } from '../../../lambdas/shared/logger.js';
import { fingerprint, generateSigningKey, parsePublicKey, signMessage } from '@molecule/plugins-sdk/signing';
import type { StoredTrust } from '../../../lambdas/store/trust.js';
import type { StagedPlugin } from '../../../lambdas/shared/types.js';
import { fakeAllowlist, fakeClock, fakeSources, fakeStager, fakeTrust, fakeWorkspaces, workspace } from '../../support/operation-fakes.js';

const wsToken: Principal = { kind: 'workspace', orgId: 'acme', workspaceId: 'ext', prefix: 'mpd_w_aaaaaaaa' };

const setup = (
  stagedName = 'hello',
  allowed: Record<string, string[]> = {},
  signing: { signed?: StagedPlugin['signed']; trust?: Omit<StoredTrust, 'updatedAt' | 'version'> } = {},
) => ({
  workspaces: fakeWorkspaces([workspace('ext', { runtime: 'external' }), workspace('ws')]),
  sources: fakeSources,
  allowlist: fakeAllowlist(allowed),
  stager: fakeStager(stagedName, signing.signed),
  trust: fakeTrust(signing.trust ? { acme: signing.trust } : {}),
  clock: fakeClock(),
});

const STATEMENT = `molecule-plugin hello 1 ${'c'.repeat(64)} ${'0'.repeat(64)}`;
const alice = generateSigningKey('alice@laptop');
const aliceFp = fingerprint(parsePublicKey(alice.publicKey));
const armor = signMessage({ privateKey: alice.privateKey, message: STATEMENT, namespace: 'molecule-plugin' });
const signedHello = { statement: STATEMENT, signature: { armor, size: armor.length } };
const trusting = (requireSignature: boolean, revokedKeys: string[] = []) => ({
  requireSignature,
  signers: [{ principal: 'alice@example.com', publicKey: alice.publicKey }],
  revokedKeys,
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

  it("hands out a signed plugin's signature, and its signer when the org trusts the key (SPEC §11)", async () => {
    const pull = (trust?: Omit<StoredTrust, 'updatedAt' | 'version'>) =>
      download(setup('hello', {}, { signed: signedHello, ...(trust ? { trust } : {}) }), logger, { principal: wsToken, workspaceId: 'ext', plugin: 'hello' });
    expect(await pull(trusting(false))).toMatchObject({ signature: armor, signer: { principal: 'alice@example.com', fingerprint: aliceFp } });
    const unknown = await pull();
    expect(unknown).toMatchObject({ signature: armor });
    expect(unknown).not.toHaveProperty('signer');
  });

  it("refuses what the org's trust refuses, with Stage's answers", async () => {
    const pull = (signed: StagedPlugin['signed'], trust: Omit<StoredTrust, 'updatedAt' | 'version'>) =>
      download(setup('hello', {}, { signed, trust }), logger, { principal: wsToken, workspaceId: 'ext', plugin: 'hello' }).catch((e: unknown) => e);
    expect(await pull(signedHello, trusting(false, [aliceFp]))).toMatchObject({
      code: 'signature_invalid',
      details: { reason: 'revoked_key', fingerprint: aliceFp, statement: STATEMENT },
    });
    expect(await pull({ statement: STATEMENT }, trusting(true))).toMatchObject({ code: 'signature_required' });
    // A copy staged before signatures were read counts as unsigned.
    expect(await pull(undefined, trusting(true))).toMatchObject({ code: 'signature_required' });
    expect(await pull({ statement: STATEMENT, signature: { armor: armor.slice(0, 100), size: 2_000_000 } }, trusting(false))).toMatchObject({
      code: 'signature_invalid',
      details: { reason: 'malformed' },
      message: expect.stringContaining('the signature is 2000000 bytes'),
    });
  });

  it('lets a workspace token pull only for its own workspace, and no org token at all', async () => {
    await expect(download(setup(), logger, { principal: wsToken, workspaceId: 'ws', plugin: 'hello' })).rejects.toMatchObject({ code: 'workspace_not_found' });
    await expect(
      download(setup(), logger, { principal: { kind: 'org', orgId: 'acme', prefix: 'p' }, workspaceId: 'ext', plugin: 'hello' }),
    ).rejects.toMatchObject({ code: 'forbidden' });
  });
});
