import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { CLI_TEST_TIMEOUT_MS, runCli } from '../support/cli.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contentHash } from '@molecule/plugins-sdk/contract/content-hash';
import { pluginStatement } from '@molecule/plugins-sdk/signing';
import { PluginDeliveryClient } from '../../packages/sdk/src/client.js';
import { pullPlugin } from '../../packages/sdk/src/pull.js';
import { trustFromAllowedSigners } from '../../packages/sdk/src/signatures.js';
import { useLocalStack } from '../support/local-stack.js';
import { FakeCodeload } from '../support/codeload.js';
import { pluginEntries, tarGz } from '../support/archives.js';
import { generateKey, type KeyFiles, keygenFingerprint, keygenSign, scratch, sshKeygen } from '../support/ssh-keygen.js';

/**
 * SPEC §11 end to end through `npm start`'s process, against Debian's ssh-keygen both ways: plugins
 * signed by `ssh-keygen -Y sign` install and record their signer; every refusal answers with its
 * documented code, reason, fingerprint and statement, and delivers nothing; plans say what would
 * refuse the install; downloads carry the signature, which the SDK's pull checks; and the
 * command line signs what ssh-keygen verifies and keeps the org's trust document. Versions of one
 * plugin come from a stand-in for codeload.github.com, one ref each.
 */
const codeload = new FakeCodeload();
const keys = scratch();
const INSTANCES: Record<string, string> = { s1: 'i-05160000000000a01', s2: 'i-05160000000000a02', s3: 'i-05160000000000a03' };
const pluginDir = (ws: string, name: string) => join(stack.localDir, 'instances', INSTANCES[ws] ?? 'unknown', 'configs', 'plugins', name);
const tokens = { org: '', other: '', ext: '' };
const key: Record<'alice' | 'mallory' | 'carol' | 'dave' | 'rsa', KeyFiles> = {} as never;
const fp = (k: KeyFiles) => keygenFingerprint(`${k.privatePath}.pub`);

type Files = Record<string, string>;
const sha256 = (text: string | Buffer) => createHash('sha256').update(text).digest('hex');
const kit = (version: string, rule = `Rule of signed-kit ${version}.\n`): Files => ({
  'plugin.yaml': `name: signed-kit\nversion: ${version}\n`,
  'rules/style.md': rule,
});

/** What Stage will check a signature of these files against (SPEC §11), computed here from the files. */
function statementOf(name: string, files: Files): string {
  const digests = Object.entries(files)
    .filter(([path]) => path !== 'plugin.sig')
    .map(([path, text]) => [path, sha256(text)] as const);
  const version = /^version: (.*)$/m.exec(files['plugin.yaml'] ?? '')?.[1];
  return pluginStatement({
    name,
    version,
    contentHash: contentHash(digests),
    manifestHash: files['plugin.yaml'] ? sha256(files['plugin.yaml']) : '0'.repeat(64),
  });
}
/** `ssh-keygen -Y sign -n <namespace>` over the statement of `files`. */
const signed = (k: KeyFiles, files: Files, namespace = 'molecule-plugin') =>
  keygenSign(keys.dir, k.privatePath, statementOf('signed-kit', files), { namespace });

/** Serves `files` (with a root plugin.sig when given) as github://acme/signed-kit#<ref>. */
function serve(ref: string, files: Files, signature?: string | Buffer): string {
  codeload.set('acme/signed-kit', ref, () => tarGz(pluginEntries({ ...files, ...(signature ? { 'plugin.sig': signature } : {}) }, `signed-kit-${ref}`)));
  return `github://acme/signed-kit#${ref}`;
}

const WAIT = { prefer: 'wait=25' };
const install = (ws: string, body: Record<string, unknown>) => stack.call('POST', `/workspaces/${ws}/plugins`, { token: tokens.org, body, headers: WAIT });
const operation = (ws: string, id: string) => stack.call('GET', `/workspaces/${ws}/plugins/operations/${id}`, { token: tokens.org });
const putTrust = (body: unknown, token = tokens.org, headers: Record<string, string> = {}) =>
  stack.call('PUT', '/orgs/signed/plugins/trust', { token, body, headers });
const signer = (principal: string, k: KeyFiles, window: { validAfter?: string; validBefore?: string } = {}) => ({
  principal,
  publicKey: k.publicKey,
  ...window,
});
/** alice trusted; dave trusted until the start of 2020; carol revoked; mallory unknown. */
const TRUST = (requireSignature: boolean) => ({
  requireSignature,
  signers: [signer('alice@example.com', key.alice), signer('dave@example.com', key.dave, { validAfter: '2019-01-01', validBefore: '2020-01-01T00:00:00Z' })],
  revokedKeys: [fp(key.carol)],
});

/** Every file under `dir`, by relative path, with its text. */
async function filesUnder(dir: string): Promise<Files> {
  const out: Files = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) out[relative(dir, join(entry.parentPath, entry.name))] = await readFile(join(entry.parentPath, entry.name), 'utf8');
  }
  return out;
}

beforeAll(async () => {
  for (const name of ['alice', 'mallory', 'carol', 'dave'] as const) key[name] = generateKey(keys.dir, name);
  key.rsa = generateKey(keys.dir, 'rsa', { type: 'rsa' });
  await codeload.start();
});
afterAll(async () => {
  await codeload.stop();
  keys.remove();
});

const stack = useLocalStack(() => ({ GITHUB_CODELOAD_URL: codeload.url }));

beforeAll(async () => {
  const admin = { token: stack.adminToken };
  for (const [id, instanceId] of Object.entries(INSTANCES)) {
    await stack.call('PUT', `/admin/workspaces/${id}`, { ...admin, body: { orgId: 'signed', runtime: 'claude-code', instanceId } });
  }
  await stack.call('PUT', '/admin/workspaces/s-ext', { ...admin, body: { orgId: 'signed', runtime: 'external' } });
  await stack.call('PUT', '/admin/workspaces/o1', { ...admin, body: { orgId: 'other', runtime: 'claude-code' } });
  tokens.org = (await stack.call('POST', '/admin/orgs/signed/tokens', admin)).body.token;
  tokens.other = (await stack.call('POST', '/admin/orgs/other/tokens', admin)).body.token;
  tokens.ext = (await stack.call('POST', '/admin/workspaces/s-ext/tokens', admin)).body.token;
});

describe('the trust document', () => {
  it('refuses an RSA key, a principal listed twice and a window that ends before it starts: 400 invalid_request naming each', async () => {
    const res = await putTrust({
      requireSignature: true,
      signers: [
        signer('rsa@example.com', key.rsa),
        signer('alice@example.com', key.alice),
        signer('alice@example.com', key.mallory),
        signer('late@example.com', key.dave, { validAfter: '2026-01-01T00:00:00Z', validBefore: '2025-01-01T00:00:00Z' }),
      ],
    });
    expect(res).toMatchObject({ status: 400, body: { code: 'invalid_request' } });
    expect(res.body.error).toContain('signers[0].publicKey');
    expect(res.body.error).toContain('"alice@example.com" is listed twice');
    expect(res.body.error).toContain('signers[3].validBefore must be later than its validAfter');
    expect((await stack.call('GET', '/orgs/signed/plugins/trust', { token: tokens.org })).body).toMatchObject({ signers: [], updatedAt: null });
  });

  it("is the org's own: another org's token is answered 404, a workspace token 403, as the allowlist routes answer", async () => {
    expect(await stack.call('GET', '/orgs/signed/plugins/trust', { token: tokens.other })).toMatchObject({ status: 404, body: { code: 'org_not_found' } });
    expect(await putTrust(TRUST(false), tokens.other)).toMatchObject({ status: 404, body: { code: 'org_not_found' } });
    expect(await stack.call('GET', '/orgs/signed/plugins/allowlist', { token: tokens.other })).toMatchObject({ status: 404 });
    expect(await putTrust(TRUST(false), tokens.ext)).toMatchObject({ status: 403, body: { code: 'forbidden' } });
  });

  it("is replaced whole, and GET gives each signer's fingerprint as ssh-keygen -l prints it", async () => {
    expect((await putTrust(TRUST(false))).status).toBe(200);
    const res = await stack.call('GET', '/orgs/signed/plugins/trust', { token: tokens.org });
    expect(res.body).toMatchObject({
      requireSignature: false,
      signers: [
        { principal: 'alice@example.com', fingerprint: fp(key.alice) },
        { principal: 'dave@example.com', fingerprint: fp(key.dave) },
      ],
      revokedKeys: [fp(key.carol)],
    });
  });

  it('is replaced only over the version named in If-Match: a change made in between is answered 412, not lost', async () => {
    const read = await stack.call('GET', '/orgs/signed/plugins/trust', { token: tokens.org });
    const etag = read.headers.get('etag') ?? '';
    expect(etag).toMatch(/^"\d+"$/);
    // Someone else revokes dave's key after we read.
    const theirs = await putTrust({ ...TRUST(false), revokedKeys: [fp(key.carol), fp(key.dave)] });
    expect(theirs.status).toBe(200);
    expect(theirs.headers.get('etag')).not.toBe(etag);
    // Our put over what we read would trust dave again: refused, naming the version there now.
    const ours = await putTrust(TRUST(false), tokens.org, { 'if-match': etag });
    expect(ours).toMatchObject({ status: 412, body: { code: 'precondition_failed', etag: theirs.headers.get('etag') } });
    expect((await stack.call('GET', '/orgs/signed/plugins/trust', { token: tokens.org })).body.revokedKeys).toEqual([fp(key.carol), fp(key.dave)]);
    // Over the version there now, it goes through.
    const again = await putTrust(TRUST(false), tokens.org, { 'if-match': theirs.headers.get('etag') ?? '' });
    expect(again.status).toBe(200);
    expect((await stack.call('GET', '/orgs/signed/plugins/trust', { token: tokens.org })).body.revokedKeys).toEqual([fp(key.carol)]);
  });
});

describe('installing signed plugins, signatures optional', () => {
  it('installs a plugin signed by ssh-keygen -Y sign with a trusted key: the signer on the operation and the revision, no plugin.sig on the host', async () => {
    const v1 = kit('1.0.0');
    const res = await install('s1', { source: serve('v1', v1, signed(key.alice, v1)) });
    expect(res.status).toBe(200);
    const signerOf = { principal: 'alice@example.com', fingerprint: fp(key.alice) };
    const op = (await operation('s1', res.body.operationId)).body;
    expect(op).toMatchObject({ status: 'SUCCEEDED', signer: signerOf });
    expect(op.warnings.filter((w: string) => w.startsWith('untrusted_signer'))).toEqual([]);
    const revisions = (await stack.call('GET', '/workspaces/s1/plugins/signed-kit/revisions', { token: tokens.org })).body.revisions;
    expect(revisions[0]).toMatchObject({ revision: 1, signer: signerOf });
    expect(revisions[0].files.map((f: { path: string }) => f.path)).toEqual(['plugin.yaml', 'rules/style.md']);
    expect(await filesUnder(pluginDir('s1', 'signed-kit'))).toEqual(v1);
  });

  it.each([
    ['a signature in the git namespace (a signed commit’s)', () => signed(key.alice, kit('1.1.0'), 'git'), 'wrong_namespace', () => fp(key.alice)],
    ["another version's signature", () => signed(key.alice, kit('1.0.0')), 'bad_signature', () => fp(key.alice)],
    ['a revoked key', () => signed(key.carol, kit('1.1.0')), 'revoked_key', () => fp(key.carol)],
  ])('refuses %s: 422 signature_invalid with its reason, fingerprint and statement, delivering nothing', async (_, signature, reason, keyFp) => {
    const v11 = kit('1.1.0');
    const res = await install('s2', { source: serve(`refused-${reason}`, v11, signature()) });
    expect(res).toMatchObject({ status: 422, body: { code: 'signature_invalid', reason, fingerprint: keyFp(), statement: statementOf('signed-kit', v11) } });
    const op = (await operation('s2', res.body.operationId)).body;
    expect(op.error).toMatchObject({ code: 'signature_invalid', reason, fingerprint: keyFp(), statement: statementOf('signed-kit', v11) });
    expect(op.steps.map((s: { name: string; status: string }) => [s.name, s.status])).toEqual([
      ['Stage', 'FAILED'],
      ['RecordFailure', 'SUCCEEDED'],
    ]);
    expect(existsSync(pluginDir('s2', 'signed-kit'))).toBe(false);
  });

  it('refuses a 1 MB plugin.sig as malformed for its size', async () => {
    const v11 = kit('1.1.0');
    const res = await install('s2', { source: serve('huge-sig', v11, Buffer.alloc(1024 * 1024, 'A')) });
    expect(res).toMatchObject({ status: 422, body: { code: 'signature_invalid', reason: 'malformed', statement: statementOf('signed-kit', v11) } });
    expect(res.body.error).toBe('the signature is 1048576 bytes; an SSH signature is at most 8192');
    expect(existsSync(pluginDir('s2', 'signed-kit'))).toBe(false);
  });

  it('installs one by a key the org does not list, with the warning untrusted_signer and no signer', async () => {
    const v12 = kit('1.2.0');
    const res = await install('s2', { source: serve('unknown', v12, signed(key.mallory, v12)) });
    expect(res.status).toBe(200);
    const op = (await operation('s2', res.body.operationId)).body;
    expect(op.warnings).toContain(`untrusted_signer: ${fp(key.mallory)}`);
    expect(op.signer).toBeUndefined();
  });

  it('takes the signature from the install body instead of a plugin.sig', async () => {
    const v2 = kit('2.0.0');
    const res = await install('s1', { source: serve('v2', v2), signature: signed(key.alice, v2) });
    expect(res.status).toBe(200);
    expect((await operation('s1', res.body.operationId)).body.signer).toEqual({ principal: 'alice@example.com', fingerprint: fp(key.alice) });
    expect(await filesUnder(pluginDir('s1', 'signed-kit'))).toEqual(v2);
  });
});

describe('installing when the org requires signatures', () => {
  beforeAll(async () => {
    expect((await putTrust(TRUST(true))).status).toBe(200);
  });

  it('refuses a plugin without a signature: 403 signature_required', async () => {
    const res = await install('s3', { source: serve('unsigned', kit('3.0.0')) });
    expect(res).toMatchObject({ status: 403, body: { code: 'signature_required' } });
    expect(existsSync(pluginDir('s3', 'signed-kit'))).toBe(false);
  });

  it.each([
    ['a key the org does not list', 'mallory', 'unknown_key'],
    ['a key past its validBefore, whatever time the signature was made', 'dave', 'key_expired'],
  ] as const)('refuses %s: 422 signature_invalid %s', async (_, who, reason) => {
    const v3 = kit('3.0.0');
    const res = await install('s3', { source: serve(`required-${who}`, v3, signed(key[who], v3)) });
    expect(res).toMatchObject({ status: 422, body: { code: 'signature_invalid', reason, fingerprint: fp(key[who]) } });
    expect(existsSync(pluginDir('s3', 'signed-kit'))).toBe(false);
  });

  it('plans a refused install as a succeeded plan: allowed false, blockedBy signature_invalid, nothing delivered', async () => {
    const v3 = kit('3.0.0');
    const res = await install('s3', { source: serve('required-mallory', v3, signed(key.mallory, v3)), dryRun: true });
    expect(res).toMatchObject({ status: 200, body: { status: 'planned', allowed: false, blockedBy: 'signature_invalid' } });
    expect(res.body.files.added).toEqual(['plugin.yaml', 'rules/style.md']);
    const unsigned = await install('s3', { source: serve('unsigned', kit('3.0.0')), dryRun: true });
    expect(unsigned.body).toMatchObject({ allowed: false, blockedBy: 'signature_required' });
    expect(existsSync(pluginDir('s3', 'signed-kit'))).toBe(false);
  });
});

describe('pulling a signed plugin', () => {
  const source = 'github://acme/signed-kit#v1';
  let pluginsDir = '';
  beforeAll(async () => {
    pluginsDir = await mkdtemp(join(tmpdir(), 'signed-pull-'));
  });
  afterAll(async () => rm(pluginsDir, { recursive: true, force: true }));

  it('hands out the signature and the trusted signer with the download', async () => {
    const res = await stack.call('GET', `/workspaces/s-ext/plugins/signed-kit/download?source=${encodeURIComponent(source)}`, { token: tokens.ext });
    expect(res.status).toBe(302);
    expect(res.headers.get('x-plugin-signer')).toBe(`alice@example.com ${fp(key.alice)}`);
    expect(Buffer.from(res.headers.get('x-plugin-signature') ?? '', 'base64').toString('utf8')).toBe(signed(key.alice, kit('1.0.0')));
  });

  it("refuses what the org's trust refuses, as an install would", async () => {
    const res = await stack.call('GET', `/workspaces/s-ext/plugins/signed-kit/download?source=${encodeURIComponent('github://acme/signed-kit#unsigned')}`, {
      token: tokens.ext,
    });
    expect(res).toMatchObject({ status: 403, body: { code: 'signature_required' } });
    // Nor is such a plugin recorded when the workspace reports it pulled it anyway.
    const reported = await stack.call('POST', '/workspaces/s-ext/plugins', { token: tokens.ext, body: { source: 'github://acme/signed-kit#unsigned' } });
    expect(reported).toMatchObject({ status: 403, body: { code: 'signature_required' } });
    const listed = (await stack.call('GET', '/workspaces/s-ext/plugins', { token: tokens.ext })).body as Array<{ source: string }>;
    expect(listed.map((p) => p.source)).not.toContain('github://acme/signed-kit#unsigned');
  });

  it("checks the signature in the SDK's pull against the agent's own trusted signers", async () => {
    const client = new PluginDeliveryClient({ baseUrl: stack.url, token: tokens.ext });
    const alice = trustFromAllowedSigners(`alice@example.com ${key.alice.publicKey}\n`);
    const pulled = await pullPlugin(client, { workspaceId: 's-ext', name: 'signed-kit', source, pluginsDir, trust: alice });
    expect(pulled.signer).toEqual({ principal: 'alice@example.com', fingerprint: fp(key.alice) });
    expect(await filesUnder(join(pluginsDir, 'signed-kit'))).toEqual(kit('1.0.0'));

    const malloryOnly = trustFromAllowedSigners(`mallory@example.com ${key.mallory.publicKey}\n`);
    await expect(pullPlugin(client, { workspaceId: 's-ext', name: 'signed-kit', source, pluginsDir, trust: malloryOnly })).rejects.toMatchObject({
      code: 'signature_invalid',
      details: { reason: 'unknown_key', fingerprint: fp(key.alice), statement: statementOf('signed-kit', kit('1.0.0')) },
    });
  });
});

describe('molecule-plugins, the command line', { timeout: CLI_TEST_TIMEOUT_MS }, () => {
  let work = '';
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'signed-cli-'));
  });
  afterAll(async () => rm(work, { recursive: true, force: true }));

  const cli = (...args: string[]) => runCli(stack.url, tokens.org, ...args);

  async function writeTree(root: string, files: Files): Promise<void> {
    for (const [path, content] of Object.entries(files)) {
      await mkdir(dirname(join(root, path)), { recursive: true });
      await writeFile(join(root, path), content);
    }
  }

  it('prints the statement Stage checks, signs it into plugin.sig, and ssh-keygen -Y verify accepts what it signed', async () => {
    const dir = join(work, 'signed-kit');
    const v4 = kit('4.0.0');
    await writeTree(dir, v4);
    const statement = await cli('statement', dir);
    expect(statement).toMatchObject({ code: 0, stdout: statementOf('signed-kit', v4) });

    const sign = await cli('sign', dir, '--key', key.alice.privatePath);
    expect(sign.code).toBe(0);
    expect(sign.stdout).toContain(fp(key.alice));
    const allowed = join(work, 'allowed_signers');
    await writeFile(allowed, `alice@example.com namespaces="molecule-plugin" ${key.alice.publicKey}\n`);
    const keygen = sshKeygen(['-Y', 'verify', '-f', allowed, '-I', 'alice@example.com', '-n', 'molecule-plugin', '-s', join(dir, 'plugin.sig')], {
      input: statement.stdout,
    });
    expect(keygen).toMatchObject({ status: 0, stdout: expect.stringContaining('Good "molecule-plugin" signature for alice@example.com') });

    expect(await cli('verify', dir, '--signers', allowed)).toMatchObject({ code: 0, stdout: expect.stringContaining('valid: signed by alice@example.com') });
    const mallory = join(work, 'allowed_mallory');
    await writeFile(mallory, `mallory@example.com ${key.mallory.publicKey}\n`);
    const untrusted = await cli('verify', dir, '--signers', mallory);
    expect(untrusted.code).toBe(1);
    expect(untrusted.stderr).toContain('invalid: unknown_key');

    // What the command signed installs, with signatures required.
    const files = await filesUnder(dir);
    const res = await install('s3', { source: serve('v4', v4, files['plugin.sig']) });
    expect(res.status).toBe(200);
    expect((await operation('s3', res.body.operationId)).body.signer).toEqual({ principal: 'alice@example.com', fingerprint: fp(key.alice) });

    await writeFile(join(dir, 'rules', 'style.md'), 'Changed after signing.\n');
    const changed = await cli('verify', dir, '--signers', allowed);
    expect(changed.code).toBe(1);
    expect(changed.stderr).toContain('invalid: bad_signature');
  });

  it("keeps the org's trust document: show, add, revoke, require, remove", async () => {
    const shown = await cli('trust', 'signed');
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain('signed: signatures required');
    expect(shown.stdout).toContain(fp(key.alice));

    const added = await cli('trust', 'signed', 'add', 'mallory@example.com', `${key.mallory.privatePath}.pub`, '--valid-before', '2099-01-01');
    expect(added).toMatchObject({ code: 0, stdout: expect.stringContaining(`added mallory@example.com (${fp(key.mallory)})`) });
    const asJson = JSON.parse((await cli('trust', 'signed', '--json')).stdout);
    expect(asJson.signers).toContainEqual(
      expect.objectContaining({ principal: 'mallory@example.com', fingerprint: fp(key.mallory), validBefore: '2099-01-01' }),
    );

    expect((await cli('trust', 'signed', 'require', 'off')).stdout).toContain('signatures optional');
    expect((await cli('trust', 'signed', 'remove', 'mallory@example.com')).code).toBe(0);
    expect((await cli('trust', 'signed', 'require', 'maybe')).code).toBe(2);

    // Revoking alice's key refuses a rollback to the revision she signed.
    const revoked = await cli('trust', 'signed', 'revoke', `${key.alice.privatePath}.pub`);
    expect(revoked).toMatchObject({ code: 0, stdout: expect.stringContaining(`revoked ${fp(key.alice)}`) });
    const rollback = await stack.call('POST', '/workspaces/s1/plugins/signed-kit/rollback', { token: tokens.org, body: { revision: 1 }, headers: WAIT });
    expect(rollback).toMatchObject({ status: 422, body: { code: 'signature_invalid', reason: 'revoked_key', fingerprint: fp(key.alice) } });
    expect(await filesUnder(pluginDir('s1', 'signed-kit'))).toEqual(kit('2.0.0'));
  });
});
