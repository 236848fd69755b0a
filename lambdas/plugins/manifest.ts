import { checkManifest as check, ManifestError, type Manifest, type ManifestCheck } from '@molecule/plugins-sdk/contract/manifest';
import { ManifestInvalid } from '../shared/errors.js';

export {
  MANIFEST_PATH,
  MAX_MANIFEST_BYTES,
  SKILL_HEAD_BYTES,
  checkSkillFile,
  type Manifest,
  type ManifestCheck,
} from '@molecule/plugins-sdk/contract/manifest';

/**
 * The manifest checks of the SDK package's contract, the ones `molecule-plugins validate` runs on
 * an author's machine, failing with the service's `manifest_invalid`.
 */
export function checkManifest(bytes: Uint8Array): ManifestCheck {
  try {
    return check(bytes);
  } catch (err) {
    if (!(err instanceof ManifestError)) throw err;
    throw new ManifestInvalid(err.message, err.problems.length > 0 ? { problems: err.problems } : {}, { cause: err.cause });
  }
}

/** Parses the bytes of a `plugin.yaml`; anything wrong with it is `manifest_invalid`. */
export function parseManifest(bytes: Uint8Array): Manifest {
  return checkManifest(bytes).manifest;
}
