import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { contentHash, type FileDigest } from './contract/content-hash.js';
import { MANIFEST_PATH, ManifestError, parseManifest } from './contract/manifest.js';

/**
 * A plugin directory on the author's disk, seen as the service would stage it: its SPEC §3
 * content hash over the regular files, and its manifest checked by the service's own parser.
 */
export interface HashedDir {
  sha256: string;
  files: number;
  /** Links and special files: the service drops or refuses them, so they are not in the hash. */
  skipped: string[];
}

export async function hashPluginDir(root: string): Promise<HashedDir> {
  const digests: FileDigest[] = [];
  const skipped: string[] = [];
  const walk = async (relative: string): Promise<void> => {
    const entries = await readdir(join(root, relative), { withFileTypes: true });
    for (const entry of entries) {
      const path = relative ? `${relative}/${entry.name}` : entry.name;
      if (entry.isDirectory()) await walk(path);
      else if (entry.isFile()) digests.push([path, await sha256File(join(root, path))]);
      else skipped.push(path);
    }
  };
  // The root may be a link to the plugin (a checkout elsewhere); links inside it are left out.
  if (!(await stat(root)).isDirectory()) throw new Error(`${root} is not a directory`);
  await walk('');
  return { sha256: contentHash(digests), files: digests.length, skipped: skipped.sort() };
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

export interface Validation {
  errors: string[];
  warnings: string[];
  name?: string;
  version?: string;
  sha256: string;
}

/** What `validate <dir>` reports: the manifest parser's problems, and a declared sha256 the content does not match. */
export async function validatePluginDir(root: string): Promise<Validation> {
  const hashed = await hashPluginDir(root);
  const warnings = hashed.skipped.map((path) => `${path}: not a regular file or directory; the service leaves it out`);
  let bytes: Buffer;
  try {
    bytes = await readFile(join(root, MANIFEST_PATH));
  } catch {
    return { errors: [`${MANIFEST_PATH}: missing`], warnings, sha256: hashed.sha256 };
  }
  try {
    const manifest = parseManifest(bytes);
    // The parser may also report warnings (what the Python validator only warns about).
    if ('warnings' in manifest && Array.isArray(manifest.warnings)) warnings.push(...manifest.warnings.map(String));
    const errors =
      manifest.sha256 !== undefined && manifest.sha256 !== hashed.sha256
        ? [`${MANIFEST_PATH}: declares sha256 ${manifest.sha256}, the content hashes to ${hashed.sha256}`]
        : [];
    return {
      errors,
      warnings,
      sha256: hashed.sha256,
      ...(manifest.name ? { name: manifest.name } : {}),
      ...(manifest.version ? { version: manifest.version } : {}),
    };
  } catch (err) {
    if (!(err instanceof ManifestError)) throw err;
    const errors = err.problems.length > 0 ? err.problems.map((p) => `${MANIFEST_PATH}: ${p}`) : [err.message];
    return { errors, warnings, sha256: hashed.sha256 };
  }
}
