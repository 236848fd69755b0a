import { open, readFile, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { SIGNATURE_PATH } from './contract/content-hash.js';
import { MANIFEST_PATH, parseManifest } from './contract/manifest.js';
import { hashPluginDir } from './plugin-dir.js';
import {
  checkPluginSignature,
  fingerprint,
  manifestHash,
  MAX_SIGNATURE_BYTES,
  NO_VERSION,
  parseAllowedSigners,
  parsePrivateKey,
  pluginStatement,
  SIGNATURE_NAMESPACE,
  signMessage,
  type TrustDocument,
  type TrustVerdict,
  trustedSignersFrom,
} from './signing/index.js';

/**
 * Plugin signatures (SPEC §11) on a plugin directory: the statement Stage will check a signature
 * against, signing it into `plugin.sig` with an OpenSSH key, and verifying it against an OpenSSH
 * allowed_signers file, as `ssh-keygen -Y verify` would and as Stage does.
 */

export interface DirStatement {
  /** `molecule-plugin <name> <version> <content hash> <manifest hash>` */
  statement: string;
  name: string;
  version: string;
  contentHash: string;
  manifestHash: string;
}

/**
 * The statement of a plugin directory as Stage will make it: the name its plugin.yaml gives, else
 * `name` (the name its source gives it: a GitHub repo's, a registry key), else the directory's;
 * the version it declares, else `0.0.0`; the SPEC §3 content hash (root plugin.sig left out) and
 * the sha256 of plugin.yaml's bytes (64 zeros without one). A plugin.yaml the service would refuse
 * is refused here too (ManifestError).
 */
export async function dirStatement(dir: string, opts: { name?: string } = {}): Promise<DirStatement> {
  const [hashed, manifestBytes] = await Promise.all([hashPluginDir(dir), readIfPresent(join(dir, MANIFEST_PATH))]);
  const manifest = manifestBytes === undefined ? undefined : parseManifest(manifestBytes);
  if (manifest?.name && opts.name && manifest.name !== opts.name) {
    throw new Error(`plugin.yaml names the plugin "${manifest.name}", not "${opts.name}": Stage signs the name plugin.yaml gives`);
  }
  const name = manifest?.name ?? opts.name ?? basename(resolve(dir));
  const parts = { name, version: manifest?.version, contentHash: hashed.sha256, manifestHash: manifestHash(manifestBytes) };
  const statement = pluginStatement(parts);
  return { statement, name, version: parts.version || NO_VERSION, contentHash: parts.contentHash, manifestHash: parts.manifestHash };
}

export interface SignedDir extends DirStatement {
  /** The armored signature, as `ssh-keygen -Y sign` writes it. */
  signature: string;
  /** The signing key's fingerprint, as `ssh-keygen -l` prints it. */
  fingerprint: string;
  /** Where it was written. */
  path: string;
}

/**
 * Signs the directory's statement with an unencrypted OpenSSH ed25519 private key (the file's
 * text), in namespace `molecule-plugin`, and writes the signature to `<dir>/plugin.sig` (or
 * `output`). `ssh-keygen -Y verify` accepts it, and Stage does when the org trusts the key.
 */
export async function signPluginDir(dir: string, privateKey: string, opts: { name?: string; output?: string } = {}): Promise<SignedDir> {
  const key = parsePrivateKey(privateKey);
  const statement = await dirStatement(dir, opts);
  const signature = signMessage({ privateKey: key, message: statement.statement, namespace: SIGNATURE_NAMESPACE });
  const path = opts.output ?? join(dir, SIGNATURE_PATH);
  await writeFile(path, signature, { mode: 0o644 });
  return { ...statement, signature, fingerprint: fingerprint(key.publicKey), path };
}

/**
 * A trust document that trusts the allowed_signers file's keys for namespace `molecule-plugin`
 * (their `valid-after` / `valid-before` kept) and requires a signature: what `verify --signers`
 * and `pull --signers` check against.
 */
export function trustFromAllowedSigners(text: string): TrustDocument {
  return { requireSignature: true, signers: trustedSignersFrom(parseAllowedSigners(text)) };
}

export interface DirVerification {
  statement: string;
  verdict: TrustVerdict;
}

/**
 * Verifies the directory's signature (`<dir>/plugin.sig`, or the file `signatureFile`) over its
 * statement against `trust`, at `now`, as Stage does. A signature file larger than an SSH signature
 * can be is refused for its size without being read whole.
 */
export async function verifyPluginDir(
  dir: string,
  opts: { trust: TrustDocument; signatureFile?: string; name?: string; now?: Date },
): Promise<DirVerification> {
  const { statement } = await dirStatement(dir, opts);
  const file = await readSignatureFile(opts.signatureFile ?? join(dir, SIGNATURE_PATH));
  if (opts.signatureFile !== undefined && file === undefined) throw new Error(`${opts.signatureFile}: no such file`);
  const verdict = checkPluginSignature({ signature: file?.text, size: file?.size, statement, trust: opts.trust, now: opts.now ?? new Date() });
  return { statement, verdict };
}

/** A signature file's first MAX_SIGNATURE_BYTES and its whole size; undefined when there is none. */
export async function readSignatureFile(path: string): Promise<{ text: string; size: number } | undefined> {
  const handle = await open(path, 'r').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (!handle) return undefined;
  try {
    const { size } = await handle.stat();
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(Math.min(size, MAX_SIGNATURE_BYTES)), 0, Math.min(size, MAX_SIGNATURE_BYTES), 0);
    return { text: buffer.subarray(0, bytesRead).toString('utf8'), size };
  } finally {
    await handle.close();
  }
}

async function readIfPresent(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
