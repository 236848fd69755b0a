/**
 * Plugin signing (SPEC §11, issue #24): SSH signatures as `ssh-keygen -Y` makes and checks them,
 * the statement a plugin signature signs, allowed_signers files and an org's trust policy. This
 * folder uses node:crypto and node:buffer only: the service's Stage and the SDK share it.
 */
export {
  allowedSignersFrom,
  formatAllowedSigners,
  matchesPatternList,
  parseAllowedSigners,
  trustedSignersFrom,
  type AllowedSigner,
} from './allowed-signers.js';
export { InvalidAllowedSigners, InvalidPrivateKey, InvalidPublicKey, InvalidStatement, InvalidTrustDocument, SigningInputError } from './errors.js';
export { ED25519, FINGERPRINT_RE, type Fingerprint, fingerprint, formatPublicKey, parsePublicKey, publicKeyFromBlob, type SshPublicKey } from './keys.js';
export { generateSigningKey, parsePrivateKey, type SigningKey } from './private-key.js';
export {
  HASH_ALGORITHMS,
  type HashAlgorithm,
  MAX_SIGNATURE_BYTES,
  oversized,
  type ParsedSignature,
  parseSignature,
  type SignatureFailure,
  type SignatureFailureReason,
  type SshSignature,
  signMessage,
  type Verification,
  verifySignature,
} from './sshsig.js';
export { manifestHash, NO_MANIFEST_HASH, NO_VERSION, pluginStatement, SIGNATURE_NAMESPACE, type StatementParts } from './statement.js';
export {
  checkPluginSignature,
  checkTrustDocument,
  isPrincipal,
  parseIsoTime,
  type Signer,
  signerVerdict,
  type SignatureInvalid,
  type SignatureInvalidReason,
  type SignatureRequired,
  type TrustDocument,
  type TrustedSigner,
  type TrustVerdict,
  trustDocumentProblems,
  trustVerdict,
  type UntrustedReason,
} from './trust.js';
