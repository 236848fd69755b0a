import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * The real ssh-keygen (Debian's openssh-client, installed by .ci/run): the independent
 * implementation plugin signatures are checked against in both directions.
 */

export interface KeygenResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function sshKeygen(args: string[], options: { input?: string | Buffer; cwd?: string } = {}): KeygenResult {
  const result = spawnSync('ssh-keygen', args, { input: options.input ?? '', cwd: options.cwd, encoding: 'utf8' });
  // EPIPE: ssh-keygen refused the signature before reading the message on its stdin.
  if (result.error && (result.error as NodeJS.ErrnoException).code !== 'EPIPE')
    throw new Error(`ssh-keygen could not run (apt-get install openssh-client): ${result.error.message}`);
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** A scratch folder for key and signature files; `remove()` in afterAll. */
export function scratch(): { dir: string; path: (name: string) => string; write: (name: string, content: string | Buffer) => string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'mpd-sshsig-'));
  const path = (name: string) => join(dir, name);
  return {
    dir,
    path,
    write: (name, content) => {
      writeFileSync(path(name), content, { mode: 0o600 });
      return path(name);
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Numbers the files each call writes, so no call overwrites another's (ssh-keygen asks before overwriting a .sig). */
let files = 0;

export interface KeyFiles {
  privatePath: string;
  privateKey: string;
  publicKey: string;
}

/** `ssh-keygen -t <type> -N <passphrase> -f <dir>/<name>`: a key as a developer has one. */
export function generateKey(dir: string, name: string, options: { type?: 'ed25519' | 'rsa' | 'ecdsa'; comment?: string; passphrase?: string } = {}): KeyFiles {
  const privatePath = join(dir, name);
  const args = ['-q', '-t', options.type ?? 'ed25519', '-N', options.passphrase ?? '', '-C', options.comment ?? `${name}@example.com`, '-f', privatePath];
  if (options.type === 'rsa') args.push('-b', '2048');
  const result = sshKeygen(args);
  if (result.status !== 0) throw new Error(`ssh-keygen -t failed: ${result.stderr}`);
  return { privatePath, privateKey: readFileSync(privatePath, 'utf8'), publicKey: readFileSync(`${privatePath}.pub`, 'utf8').trim() };
}

/** `ssh-keygen -Y sign -n <namespace> -f <key> <file>` over `message`; returns the armor it wrote. */
export function keygenSign(dir: string, privatePath: string, message: string | Buffer, options: { namespace?: string; hashAlgorithm?: string } = {}): string {
  const file = join(dir, `message-${++files}`);
  writeFileSync(file, message);
  const args = ['-Y', 'sign', '-n', options.namespace ?? 'molecule-plugin', '-f', privatePath];
  if (options.hashAlgorithm) args.push('-O', `hashalg=${options.hashAlgorithm}`);
  const result = sshKeygen([...args, file]);
  if (result.status !== 0) throw new Error(`ssh-keygen -Y sign failed: ${result.stderr}`);
  return readFileSync(`${file}.sig`, 'utf8');
}

/**
 * `ssh-keygen -Y verify -f <allowed_signers> -I <principal> -n <namespace> -s <sig> < message`;
 * `verifyTime` (ssh-keygen's `YYYYMMDD…` form) fixes the time the signers' windows are checked at.
 */
export function keygenVerify(
  dir: string,
  input: { allowedSigners: string; principal: string; signature: string | Buffer; message: string | Buffer; namespace?: string; verifyTime?: string },
): KeygenResult {
  const tag = ++files;
  const signers = join(dir, `allowed_signers-${tag}`);
  const signature = join(dir, `signature-${tag}.sig`);
  writeFileSync(signers, input.allowedSigners);
  writeFileSync(signature, input.signature);
  const args = ['-Y', 'verify', '-f', signers, '-I', input.principal, '-n', input.namespace ?? 'molecule-plugin', '-s', signature];
  if (input.verifyTime) args.push('-O', `verify-time=${input.verifyTime}`);
  return sshKeygen(args, { input: input.message });
}

/** `ssh-keygen -l -f <file>`'s fingerprint field. */
export function keygenFingerprint(publicKeyPath: string): string {
  const result = sshKeygen(['-l', '-f', publicKeyPath]);
  if (result.status !== 0) throw new Error(`ssh-keygen -l failed: ${result.stderr}`);
  return result.stdout.split(' ')[1] ?? '';
}
