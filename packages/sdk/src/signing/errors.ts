/**
 * What a caller handed in that cannot be used: a key, a private key file, an allowed_signers
 * file, a statement's parts or a trust document. The API answers every one with 400
 * `invalid_request` and the CLI prints the message; the message alone says what to fix. A
 * signature that does not verify is not an error but a result (`sshsig.ts`, `trust.ts`).
 *
 * This folder imports nothing but node:crypto and node:buffer (the service and the SDK both use
 * it), so these are plain errors and the API maps them to its own.
 */
export class SigningInputError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Not an `ssh-ed25519 AAAA… [comment]` public key. */
export class InvalidPublicKey extends SigningInputError {}

/** Not an unencrypted OpenSSH ed25519 private key. */
export class InvalidPrivateKey extends SigningInputError {}

/** A line of an allowed_signers file that this tool (or ssh-keygen) would not read as written. */
export class InvalidAllowedSigners extends SigningInputError {
  constructor(
    readonly line: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`allowed_signers line ${line}: ${message}`, options);
  }
}

/** A name, version or hash that does not belong in a signed statement. */
export class InvalidStatement extends SigningInputError {}

/** A trust document (SPEC §11) that cannot be stored or applied; `problems` lists every one found. */
export class InvalidTrustDocument extends SigningInputError {
  constructor(readonly problems: readonly string[]) {
    super(`invalid trust document: ${problems.join('; ')}`);
  }
}
