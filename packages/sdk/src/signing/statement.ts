import { createHash } from 'node:crypto';
import { InvalidStatement } from './errors.js';

/** The SSH signature namespace of a plugin signature: `ssh-keygen -Y sign -n molecule-plugin`. */
export const SIGNATURE_NAMESPACE = 'molecule-plugin';

/** The version a statement names when the plugin declares none (SPEC §11). */
export const NO_VERSION = '0.0.0';

/** The manifest hash of a plugin without a root `plugin.yaml`. */
export const NO_MANIFEST_HASH = '0'.repeat(64);

/** SPEC §2's plugin name, repeated here because this folder imports nothing but node:crypto and node:buffer (contract/names.ts brings zod). */
const PLUGIN_NAME = /^[a-z0-9][a-z0-9._-]{0,127}$/;
const SHA256_HEX = /^[0-9a-f]{64}$/;
/** The manifest's version rule (one short line, no control characters); spaces are allowed there and stay unambiguous here, between a name without spaces and two hashes. */
const VERSION = /^[^\u0000-\u001f\u007f]{1,128}$/;

export interface StatementParts {
  name: string;
  /** As Stage resolves it; absent, undefined or empty (a `version: ""` declares none) means `0.0.0`. */
  version?: string | undefined;
  /** SPEC §3's content hash, lowercase hex. */
  contentHash: string;
  /** `manifestHash()` of the root plugin.yaml. */
  manifestHash: string;
}

/**
 * What a plugin signature signs (SPEC §11): the UTF-8 line `molecule-plugin <name> <version>
 * <content hash> <manifest hash>`, single spaces, no newline. Binding the name, version and
 * manifest means a signature cannot be moved to another plugin or version.
 */
export function pluginStatement(parts: StatementParts): string {
  const version = parts.version || NO_VERSION;
  const problems = [
    PLUGIN_NAME.test(parts.name) ? undefined : `plugin name ${JSON.stringify(parts.name)} must match ${PLUGIN_NAME.source}`,
    VERSION.test(version) ? undefined : `version ${JSON.stringify(version)} must be 1 to 128 characters on one line`,
    SHA256_HEX.test(parts.contentHash) ? undefined : `content hash ${JSON.stringify(parts.contentHash)} must be 64 lowercase hex digits`,
    SHA256_HEX.test(parts.manifestHash) ? undefined : `manifest hash ${JSON.stringify(parts.manifestHash)} must be 64 lowercase hex digits`,
  ].filter((problem) => problem !== undefined);
  if (problems.length > 0) throw new InvalidStatement(`cannot make a plugin statement: ${problems.join('; ')}`);
  return `${SIGNATURE_NAMESPACE} ${parts.name} ${version} ${parts.contentHash} ${parts.manifestHash}`;
}

/** Lowercase hex sha256 of the root plugin.yaml's bytes, or 64 zeros when there is none. */
export function manifestHash(manifest: Uint8Array | undefined): string {
  return manifest === undefined ? NO_MANIFEST_HASH : createHash('sha256').update(manifest).digest('hex');
}
