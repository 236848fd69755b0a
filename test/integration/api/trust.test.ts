import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApi } from '../../support/api.js';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';
import { assertConformsToOpenApi } from '../../support/openapi-conformance.js';
import { generateKey, type KeyFiles, keygenFingerprint, scratch } from '../../support/ssh-keygen.js';
import { fromApiGatewayEvent, toApiGatewayResult } from '../../../lambdas/api/apigw.js';
import { upsertWorkspace } from '../../../lambdas/store/workspaces.js';
import { mintToken } from '../../../lambdas/store/tokens.js';
import { getTrust } from '../../../lambdas/store/trust.js';
import { startLocalApiServer, type LocalApiServer } from '../../../local/api-server.js';

/**
 * `GET, PUT /orgs/{orgId}/plugins/trust` (SPEC §11) over real HTTP on a real database: the
 * document replaced whole, each signer's fingerprint as `ssh-keygen -l` prints it, every problem
 * of a bad document named in one 400, and the allowlist's access rules.
 */
const ADMIN = 'admin-trust';
const keys = scratch();
let t: TestDatabase;
let server: LocalApiServer;
let alice: KeyFiles;
let bob: KeyFiles;
let rsa: KeyFiles;
const tokens = { acme: '', other: '', workspace: '' };

async function call(method: 'GET' | 'PUT', path: string, token: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(server.url + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  const answer = { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
  assertConformsToOpenApi(method, path, answer);
  return answer;
}
const put = (body: unknown, token = tokens.acme, org = 'acme') => call('PUT', `/orgs/${org}/plugins/trust`, token, body);
const get = (token = tokens.acme, org = 'acme') => call('GET', `/orgs/${org}/plugins/trust`, token);

beforeAll(async () => {
  alice = generateKey(keys.dir, 'alice');
  bob = generateKey(keys.dir, 'bob');
  rsa = generateKey(keys.dir, 'rsa', { type: 'rsa' });
  t = await createTestDatabase();
  const api = createTestApi(t.db, { adminToken: ADMIN });
  server = await startLocalApiServer({ handler: async (event) => toApiGatewayResult(await api(fromApiGatewayEvent(event))), port: 0, maxBodyBytes: 65_536 });
  await upsertWorkspace(t.db, 'ws-acme', { orgId: 'acme', runtime: 'claude-code' });
  await upsertWorkspace(t.db, 'ws-other', { orgId: 'other', runtime: 'claude-code' });
  tokens.acme = (await mintToken(t.db, 'org', { orgId: 'acme' })).token;
  tokens.other = (await mintToken(t.db, 'org', { orgId: 'other' })).token;
  tokens.workspace = (await mintToken(t.db, 'workspace', { orgId: 'acme', workspaceId: 'ws-acme' })).token;
});

afterAll(async () => {
  await server?.close();
  await t?.close();
  keys.remove();
});

describe('an org that never put a trust document', () => {
  it('trusts no one and requires no signature', async () => {
    expect(await get()).toMatchObject({ status: 200, body: { orgId: 'acme', requireSignature: false, signers: [], revokedKeys: [], updatedAt: null } });
  });
});

describe('PUT /orgs/{orgId}/plugins/trust', () => {
  it("replaces the document whole, and GET adds each signer's fingerprint as ssh-keygen -l prints it", async () => {
    const document = {
      requireSignature: true,
      signers: [
        { principal: 'alice@example.com', publicKey: alice.publicKey, validAfter: '2024-01-01T00:00:00Z', validBefore: '2099-01-01' },
        { principal: 'bob@example.com', publicKey: bob.publicKey },
      ],
      revokedKeys: [keygenFingerprint(`${rsa.privatePath}.pub`)],
    };
    const put1 = await put(document);
    expect(put1.status).toBe(200);
    const read = await get();
    expect(read.body).toEqual({
      orgId: 'acme',
      requireSignature: true,
      signers: [
        { ...document.signers[0], fingerprint: keygenFingerprint(`${alice.privatePath}.pub`) },
        { ...document.signers[1], fingerprint: keygenFingerprint(`${bob.privatePath}.pub`) },
      ],
      revokedKeys: document.revokedKeys,
      updatedAt: expect.any(String),
    });
    expect(put1.body).toEqual(read.body);

    // What GET answered can be put back as it is; a smaller document drops what it leaves out.
    expect((await put(read.body)).body.signers).toEqual(read.body.signers);
    const smaller = await put({ requireSignature: false, signers: [{ principal: 'bob@example.com', publicKey: bob.publicKey }] });
    expect(smaller.body).toMatchObject({ requireSignature: false, signers: [{ principal: 'bob@example.com' }], revokedKeys: [] });
    expect((await get()).body).toEqual(smaller.body);
  });

  it('refuses a document with every problem named, and keeps the one it had', async () => {
    const before = (await get()).body;
    const res = await put({
      requireSignature: true,
      signers: [
        { principal: 'rsa@example.com', publicKey: rsa.publicKey },
        { principal: 'alice@example.com', publicKey: alice.publicKey },
        { principal: 'alice@example.com', publicKey: bob.publicKey },
        { principal: 'carol@example.com', publicKey: bob.publicKey, validAfter: '2025-06-01T00:00:00Z', validBefore: '2025-01-01T00:00:00Z' },
        { principal: 'dave@example.com', publicKey: bob.publicKey, validAfter: 'next tuesday' },
        { principal: '*@example.com', publicKey: bob.publicKey },
      ],
      revokedKeys: ['MD5:00:11'],
    });
    expect(res).toMatchObject({ status: 400, body: { code: 'invalid_request' } });
    const { error } = res.body as { error: string };
    expect(error).toContain('signers[0].publicKey');
    expect(error).toContain('ssh-rsa');
    expect(error).toContain('signers[2].principal "alice@example.com" is listed twice');
    expect(error).toContain('signers[3].validBefore must be later than its validAfter');
    expect(error).toContain('signers[4].validAfter "next tuesday"');
    expect(error).toContain('signers[5].principal "*@example.com"');
    expect(error).toContain('revokedKeys[0] "MD5:00:11"');
    expect((await get()).body).toEqual(before);
  });

  it('refuses a body of the wrong shape as 400 invalid_request naming the field', async () => {
    expect(await put({ signers: [] })).toMatchObject({ status: 400, body: { code: 'invalid_request', error: expect.stringContaining('requireSignature') } });
    expect(await put({ requireSignature: true, signers: [{ principal: 'x' }] })).toMatchObject({
      status: 400,
      body: { code: 'invalid_request', error: expect.stringContaining('signers.0.publicKey') },
    });
  });
});

describe('who may read and replace it', () => {
  it('answers another org as the allowlist routes do: 404 org_not_found, and nothing changes', async () => {
    const before = await getTrust(t.db, 'acme');
    expect(await get(tokens.other)).toMatchObject({ status: 404, body: { code: 'org_not_found' } });
    expect(await put({ requireSignature: false, signers: [] }, tokens.other)).toMatchObject({ status: 404, body: { code: 'org_not_found' } });
    expect(await getTrust(t.db, 'acme')).toEqual(before);
  });

  it('refuses a workspace token (403) and lets the admin token read and replace any org (404 for one that does not exist)', async () => {
    expect(await get(tokens.workspace)).toMatchObject({ status: 403, body: { code: 'forbidden' } });
    expect(await put({ requireSignature: false, signers: [] }, tokens.workspace)).toMatchObject({ status: 403, body: { code: 'forbidden' } });
    expect((await put({ requireSignature: true, signers: [] }, ADMIN, 'other')).body).toMatchObject({ orgId: 'other', requireSignature: true });
    expect(await get(ADMIN, 'nobody')).toMatchObject({ status: 404, body: { code: 'org_not_found' } });
  });
});
