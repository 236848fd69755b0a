import { createServer, type IncomingMessage, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trust } from '../../../packages/sdk/src/cli/signing.js';
import { generateSigningKey } from '@molecule/plugins-sdk/signing';

/**
 * `molecule-plugins trust <org> add …` against an API whose document another admin changes between
 * the CLI's read and its write: the PUT over the stale version is refused (412), and the CLI reads
 * again and applies its change to what the other admin left, so neither change is lost.
 */
const alice = generateSigningKey('alice@laptop');
const REVOKED = `SHA256:${'A'.repeat(43)}`;

let server: Server;
let url = '';
let version = 1;
let doc = { orgId: 'acme', requireSignature: false, signers: [] as unknown[], revokedKeys: [] as string[], updatedAt: null as string | null };
const puts: Array<{ ifMatch: string | undefined; body: any }> = [];

const read = async (req: IncomingMessage) => {
  let text = '';
  for await (const chunk of req) text += chunk;
  return text ? JSON.parse(text) : undefined;
};

beforeAll(async () => {
  server = createServer(async (req, res) => {
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json', etag: `"${version}"` });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'GET') return reply(200, doc);
    const body = await read(req);
    puts.push({ ifMatch: req.headers['if-match'], body });
    if (puts.length === 1) {
      // Another admin revoked a key after the CLI read the document.
      version += 1;
      doc = { ...doc, revokedKeys: [REVOKED] };
    }
    if (req.headers['if-match'] !== `"${version}"`) return reply(412, { code: 'precondition_failed', error: 'changed', etag: `"${version}"` });
    version += 1;
    doc = { ...doc, ...body, signers: body.signers.map((s: object) => ({ ...s, fingerprint: 'SHA256:x' })) };
    return reply(200, doc);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('molecule-plugins trust, when the document changes under it', () => {
  it('puts its change over the version it read, and on 412 reads again and reapplies it, keeping the other change', async () => {
    const out: string[] = [];
    const io = { stdout: (t: string) => out.push(t), stderr: (t: string) => out.push(t), env: { MOLECULE_API_URL: url, MOLECULE_TOKEN: 'mpd_o_test' } };
    expect(await trust(io, 'acme', 'add', ['alice@example.com', alice.publicKey], {})).toBe(0);
    expect(puts.map((p) => p.ifMatch)).toEqual(['"1"', '"2"']);
    expect(puts[1]?.body).toMatchObject({ revokedKeys: [REVOKED], signers: [{ principal: 'alice@example.com', publicKey: alice.publicKey }] });
    expect(doc.revokedKeys).toEqual([REVOKED]);
    expect(doc.signers).toHaveLength(1);
  });
});
