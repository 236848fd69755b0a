import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PluginDeliveryClient } from '../../../packages/sdk/src/client.js';
import { pullPlugin } from '../../../packages/sdk/src/pull.js';
import { contentHash } from '@molecule/plugins-sdk/contract/content-hash';
import { hostile, pluginEntries, tarGz } from '../../support/archives.js';
import { createHash } from 'node:crypto';
import { fingerprint, generateSigningKey, parsePublicKey, signMessage, type TrustDocument } from '@molecule/plugins-sdk/signing';

/** The API's download route (302 + plugin headers) and the presigned URL it points at, on one real server. */
async function downloadServer(tarball: Buffer, sha256: string, announcedName = 'demo', signature?: string) {
  const server: Server = createServer((req, res) => {
    if (req.url?.startsWith('/workspaces/')) {
      res.writeHead(302, {
        location: `http://127.0.0.1:${(server.address() as AddressInfo).port}/tarball`,
        'x-plugin-name': announcedName,
        'x-plugin-sha256': sha256,
        ...(signature ? { 'x-plugin-signature': Buffer.from(signature).toString('base64') } : {}),
      });
      res.end();
    } else {
      res.writeHead(req.headers.authorization ? 400 : 200).end(tarball);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return new PluginDeliveryClient({ baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, token: 'ws-token' });
}
const servers: Server[] = [];
let pluginsDir = '';

beforeEach(async () => {
  pluginsDir = await mkdtemp(join(tmpdir(), 'pull-'));
  await mkdir(join(pluginsDir, 'demo'));
  await writeFile(join(pluginsDir, 'demo', 'old.md'), 'the version before\n');
});
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
  await rm(pluginsDir, { recursive: true, force: true });
});

const FILES = { 'plugin.yaml': 'name: demo\n', 'rules/a.md': 'rule\n', 'skills/s/SKILL.md': '# s\n' };
const hashOf = (files: Record<string, string>) =>
  contentHash(Object.entries(files).map(([path, text]) => [path, createHash('sha256').update(text).digest('hex')] as const));

describe('pulling a plugin into an external workspace', () => {
  it('unpacks it in place of the previous version, after checking its content hash', async () => {
    const client = await downloadServer(await tarGz(pluginEntries(FILES)), hashOf(FILES));
    const pulled = await pullPlugin(client, { workspaceId: 'ext', name: 'demo', pluginsDir });
    expect(pulled).toEqual({ dir: join(pluginsDir, 'demo'), sha256: hashOf(FILES), files: 3 });
    expect(await readFile(join(pluginsDir, 'demo', 'skills', 's', 'SKILL.md'), 'utf8')).toBe('# s\n');
    expect((await readdir(join(pluginsDir, 'demo'))).sort()).toEqual(['plugin.yaml', 'rules', 'skills']);
    expect(await readdir(pluginsDir)).toEqual(['demo']);
  });

  it('keeps the previous version when the bytes do not match the announced hash', async () => {
    const client = await downloadServer(await tarGz(pluginEntries(FILES)), 'f'.repeat(64));
    await expect(pullPlugin(client, { workspaceId: 'ext', name: 'demo', pluginsDir })).rejects.toMatchObject({ code: 'integrity_mismatch' });
    expect(await readdir(pluginsDir)).toEqual(['demo']);
    expect(await readFile(join(pluginsDir, 'demo', 'old.md'), 'utf8')).toBe('the version before\n');
  });

  it.each([
    ['a ../ escape', hostile.dotDotEscape],
    ['an absolute path', hostile.absolutePath],
    ['a symlink to /etc', hostile.symlinkToEtc],
    ['a fifo', hostile.fifo],
    ['a path that is a file and a directory', hostile.fileAndDirectory],
    ['truncated gzip', async () => (await tarGz(pluginEntries(FILES))).subarray(0, 60)],
  ])('refuses %s, writing nothing outside and keeping the previous version', async (_, archive) => {
    const client = await downloadServer(await archive(), 'a'.repeat(64));
    await expect(pullPlugin(client, { workspaceId: 'ext', name: 'demo', pluginsDir })).rejects.toMatchObject({ code: 'invalid_archive' });
    expect(await readdir(pluginsDir)).toEqual(['demo']);
    expect(await readdir(join(pluginsDir, 'demo'))).toEqual(['old.md']);
  });

  it('stops at the size limit instead of filling the disk', async () => {
    const big = { 'plugin.yaml': 'name: demo\n', 'big.bin': 'x'.repeat(2_000_000) };
    const client = await downloadServer(await tarGz(pluginEntries(big)), hashOf(big));
    await expect(pullPlugin(client, { workspaceId: 'ext', name: 'demo', pluginsDir, maxBytes: 1_000_000 })).rejects.toMatchObject({
      code: 'invalid_archive',
      message: expect.stringContaining('more than 1000000 bytes'),
    });
    expect(await readdir(pluginsDir)).toEqual(['demo']);
  });

  it.each([
    ['a name that climbs out of the plugins dir', '../../x'],
    ['a name that climbs into a sibling', '../demo-evil'],
    ['a name other than the one requested', 'other'],
    ['a name that is not a plugin name', 'Demo'],
  ])('refuses a download announcing %s before touching any file', async (_, announced) => {
    const parent = await mkdtemp(join(tmpdir(), 'pull-parent-'));
    const nested = join(parent, 'home', 'plugins');
    await mkdir(join(nested, 'demo'), { recursive: true });
    await writeFile(join(nested, 'demo', 'old.md'), 'the version before\n');
    await mkdir(join(parent, 'x'));
    await writeFile(join(parent, 'x', 'id_ed25519'), 'secret key\n');
    try {
      const client = await downloadServer(await tarGz(pluginEntries(FILES)), hashOf(FILES), announced);
      await expect(pullPlugin(client, { workspaceId: 'ext', name: 'demo', pluginsDir: nested })).rejects.toMatchObject({ code: 'invalid_plugin_name' });
      expect(await readdir(parent)).toEqual(['home', 'x']);
      expect(await readdir(join(parent, 'home'))).toEqual(['plugins']);
      expect(await readdir(nested)).toEqual(['demo']);
      expect(await readdir(join(nested, 'demo'))).toEqual(['old.md']);
      expect(await readFile(join(parent, 'x', 'id_ed25519'), 'utf8')).toBe('secret key\n');
    } finally {
      await rm(parent, { recursive: true, force: true });
    }
  });

  it('checks the sha256 plugin.yaml declares as well as the announced one', async () => {
    const files = { ...FILES, 'plugin.yaml': `name: demo\nsha256: ${'0'.repeat(64)}\n` };
    const client = await downloadServer(await tarGz(pluginEntries(files)), hashOf(files));
    await expect(pullPlugin(client, { workspaceId: 'ext', name: 'demo', pluginsDir })).rejects.toMatchObject({
      code: 'integrity_mismatch',
      message: expect.stringContaining('its plugin.yaml declares'),
    });
    expect(await readdir(join(pluginsDir, 'demo'))).toEqual(['old.md']);
  });

  it('refuses a tarball sent without an announced content hash', async () => {
    const server: Server = createServer((_req, res) => res.writeHead(200, { 'x-plugin-name': 'demo' }).end(tarball));
    const tarball = await tarGz(pluginEntries(FILES));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.push(server);
    const client = new PluginDeliveryClient({ baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, token: 'ws-token' });
    await expect(pullPlugin(client, { workspaceId: 'ext', name: 'demo', pluginsDir })).rejects.toMatchObject({ code: 'integrity_mismatch' });
    expect(await readdir(join(pluginsDir, 'demo'))).toEqual(['old.md']);
  });

  it('refuses to pull a requested name that is not a plugin name', async () => {
    const client = await downloadServer(await tarGz(pluginEntries(FILES)), hashOf(FILES), '../x');
    await expect(pullPlugin(client, { workspaceId: 'ext', name: '../x', pluginsDir })).rejects.toMatchObject({ code: 'invalid_plugin_name' });
    expect(await readdir(pluginsDir)).toEqual(['demo']);
  });
});

describe('pulling a signed plugin with trusted signers (SPEC §11)', () => {
  const alice = generateSigningKey('alice@laptop');
  const mallory = generateSigningKey('mallory@laptop');
  const trust = (requireSignature = true): TrustDocument => ({ requireSignature, signers: [{ principal: 'alice@example.com', publicKey: alice.publicKey }] });
  const MANIFEST = 'name: demo\nversion: 2.0.0\n';
  const SIGNED = { ...FILES, 'plugin.yaml': MANIFEST };
  const statement = `molecule-plugin demo 2.0.0 ${hashOf(SIGNED)} ${createHash('sha256').update(MANIFEST).digest('hex')}`;
  const signed = (key: { privateKey: string }, message = statement) => signMessage({ privateKey: key.privateKey, message, namespace: 'molecule-plugin' });
  const serve = async (signature?: string) => downloadServer(await tarGz(pluginEntries(SIGNED)), hashOf(SIGNED), 'demo', signature);

  it('checks X-Plugin-Signature over the statement of what it unpacked, and names the signer', async () => {
    const pulled = await pullPlugin(await serve(signed(alice)), { workspaceId: 'ext', name: 'demo', pluginsDir, trust: trust() });
    expect(pulled.signer).toEqual({ principal: 'alice@example.com', fingerprint: fingerprint(parsePublicKey(alice.publicKey)) });
  });

  it.each([
    [
      'a signature of another version',
      () => signed(alice, statement.replace(' 2.0.0 ', ' 1.0.0 ')),
      { code: 'signature_invalid', details: { reason: 'bad_signature', statement } },
    ],
    ['a key it does not trust', () => signed(mallory), { code: 'signature_invalid', details: { reason: 'unknown_key' } }],
    ['no signature at all', () => undefined, { code: 'signature_required' }],
  ])('keeps the previous version when the plugin has %s', async (_, signature, refusal) => {
    await expect(pullPlugin(await serve(signature()), { workspaceId: 'ext', name: 'demo', pluginsDir, trust: trust() })).rejects.toMatchObject(refusal);
    expect(await readdir(join(pluginsDir, 'demo'))).toEqual(['old.md']);
  });

  it("installs one by a key it does not trust with a warning when the trust does not require signatures, and doesn't check without trust", async () => {
    const warnings: string[] = [];
    const pulled = await pullPlugin(await serve(signed(mallory)), {
      workspaceId: 'ext',
      name: 'demo',
      pluginsDir,
      trust: trust(false),
      onWarning: (w) => warnings.push(w),
    });
    expect(pulled.signer).toBeUndefined();
    expect(warnings).toEqual([`untrusted_signer: ${fingerprint(parsePublicKey(mallory.publicKey))}`]);
    await expect(pullPlugin(await serve(signed(mallory, 'anything')), { workspaceId: 'ext', name: 'demo', pluginsDir })).resolves.toMatchObject({ files: 3 });
  });
});
