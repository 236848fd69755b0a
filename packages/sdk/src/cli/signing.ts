import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ApiError, type TrustUpdate } from '../client.js';
import { dirStatement, signPluginDir, trustFromAllowedSigners, verifyPluginDir } from '../signatures.js';
import { FINGERPRINT_RE, fingerprint, parseIsoTime, parsePublicKey } from '../signing/index.js';
import { connect, type NetworkFlags } from './connection.js';
import { type Printer, table } from './format.js';
import { type Io, UsageError } from './io.js';

/**
 * Signed plugins (SPEC §11) on the command line: `statement`, `sign` and `verify` on a plugin
 * directory (no API), and `trust <org>`, the org's trust document through the API.
 */

export type StatementFlags = { name?: string; json?: boolean };
export type SignFlags = StatementFlags & { key: string; output?: string };
export type VerifyFlags = StatementFlags & { signers: string; signature?: string };
export type TrustFlags = NetworkFlags & { validAfter?: string; validBefore?: string };

/**
 * `statement <dir>`: what a signature of the plugin signs. Printed without a newline when stdout is
 * not a terminal, so `> statement.txt` holds exactly the bytes `ssh-keygen -Y sign` must sign.
 */
export async function statement(io: Io, dir: string, flags: StatementFlags, print: Printer): Promise<number> {
  const made = await dirStatement(dir, flags);
  if (flags.json) print.result(made, made.statement);
  else io.stdout(io.stdoutIsTTY ? `${made.statement}\n` : made.statement);
  return 0;
}

/** `sign <dir> --key <file>`: writes `<dir>/plugin.sig` (or `--output`), which `ssh-keygen -Y verify` accepts. */
export async function sign(_io: Io, dir: string, flags: SignFlags, print: Printer): Promise<number> {
  const signed = await signPluginDir(dir, await readFile(flags.key, 'utf8'), {
    ...(flags.name ? { name: flags.name } : {}),
    ...(flags.output ? { output: flags.output } : {}),
  });
  print.result(
    { statement: signed.statement, fingerprint: signed.fingerprint, path: signed.path, signature: signed.signature },
    `signed ${signed.name} ${signed.version} with ${signed.fingerprint}: wrote ${signed.path}`,
  );
  return 0;
}

/**
 * `verify <dir> --signers <allowed_signers>`: exit 0 when the signature verifies over the
 * directory's statement by a key the file trusts now, 1 (with the reason) when not, as Stage would
 * judge it for an org that requires signatures.
 */
export async function verify(_io: Io, dir: string, flags: VerifyFlags, print: Printer): Promise<number> {
  const trust = trustFromAllowedSigners(await readFile(flags.signers, 'utf8'));
  const { statement: checked, verdict } = await verifyPluginDir(dir, {
    trust,
    ...(flags.signature ? { signatureFile: flags.signature } : {}),
    ...(flags.name ? { name: flags.name } : {}),
  });
  if (verdict.verdict === 'trusted') {
    print.result({ valid: true, statement: checked, signer: verdict.signer }, `valid: signed by ${verdict.signer.principal} (${verdict.signer.fingerprint})`);
    return 0;
  }
  // The file trusts its keys and requires a signature: anything but a trusted signer is refused.
  const refusal = verdict.verdict === 'refused' ? verdict.error : undefined;
  const why =
    refusal?.code === 'signature_invalid'
      ? `${refusal.reason}: ${refusal.message}`
      : `no signature: ${flags.signature ?? join(dir, 'plugin.sig')} does not exist`;
  print.failure({ valid: false, statement: checked, ...(refusal ?? {}) }, `invalid: ${why}\nstatement: ${checked}`);
  return 1;
}

const TRUST_ACTIONS = ['show', 'add', 'remove', 'revoke', 'require'] as const;

/** How many times a change is read and put again when someone else changed the document in between. */
const TRUST_ATTEMPTS = 3;

/**
 * `trust <org> [show | add <principal> <key> | remove <principal> | revoke <fingerprint|key> |
 * require on|off]`: reads the org's trust document and, for a change, puts it back with the change,
 * only over the version it read (`If-Match`). When someone else changed it in between, the change
 * is applied again to what they left, so neither change is lost.
 */
export async function trust(io: Io, org: string, action: string | undefined, args: string[], flags: TrustFlags): Promise<number> {
  const verb = action ?? 'show';
  if (!(TRUST_ACTIONS as readonly string[]).includes(verb)) throw new UsageError(`trust <org> takes ${TRUST_ACTIONS.join(', ')}, not "${verb}"`);
  if ((flags.validAfter || flags.validBefore) && verb !== 'add') throw new UsageError('--valid-after and --valid-before go with trust <org> add');
  const { client, print } = await connect(flags, io);
  for (let attempt = 1; ; attempt++) {
    const { trust: current, etag } = await client.trustWithEtag(org);
    if (verb === 'show') {
      if (args.length > 0) throw new UsageError('trust <org> show takes no more arguments');
      print.result(current, trustText(current));
      return 0;
    }
    const document: TrustUpdate = {
      requireSignature: current.requireSignature,
      signers: current.signers.map(({ fingerprint: _fp, ...signer }) => signer),
      revokedKeys: current.revokedKeys,
    };
    const [change, note] = await changed(document, verb, args, flags);
    try {
      const updated = await client.replaceTrust(org, change, etag ? { ifMatch: etag } : {});
      print.result(updated, `${note}\n${trustText(updated)}`);
      return 0;
    } catch (err) {
      if (!(err instanceof ApiError && err.code === 'precondition_failed') || attempt >= TRUST_ATTEMPTS) throw err;
    }
  }
}

async function changed(document: TrustUpdate, verb: string, args: string[], flags: TrustFlags): Promise<[TrustUpdate, string]> {
  const arity = (n: number, usage: string) => {
    if (args.length !== n) throw new UsageError(`trust <org> ${verb} takes ${usage}`);
  };
  switch (verb) {
    case 'add': {
      arity(2, '<principal> <public key, or a .pub file>');
      const [principal = '', key = ''] = args;
      const publicKey = await publicKeyArg(key);
      const window = {
        ...(flags.validAfter ? { validAfter: isoArg('--valid-after', flags.validAfter) } : {}),
        ...(flags.validBefore ? { validBefore: isoArg('--valid-before', flags.validBefore) } : {}),
      };
      const replaced = document.signers.some((signer) => signer.principal === principal);
      const signers = [...document.signers.filter((signer) => signer.principal !== principal), { principal, publicKey, ...window }];
      return [{ ...document, signers }, `${replaced ? 'replaced' : 'added'} ${principal} (${fingerprint(parsePublicKey(publicKey))})`];
    }
    case 'remove': {
      arity(1, '<principal>');
      const [principal = ''] = args;
      if (!document.signers.some((signer) => signer.principal === principal)) throw new UsageError(`${principal} is not one of the org's signers`);
      return [{ ...document, signers: document.signers.filter((signer) => signer.principal !== principal) }, `removed ${principal}`];
    }
    case 'revoke': {
      arity(1, '<fingerprint (SHA256:…), public key or .pub file>');
      const [key = ''] = args;
      const revoked = FINGERPRINT_RE.test(key) ? key : fingerprint(parsePublicKey(await publicKeyArg(key)));
      const revokedKeys = [...new Set([...(document.revokedKeys ?? []), revoked])];
      return [{ ...document, revokedKeys }, `revoked ${revoked}`];
    }
    default: {
      arity(1, 'on or off');
      const [value] = args;
      if (value !== 'on' && value !== 'off') throw new UsageError(`trust <org> require takes on or off, not "${value}"`);
      return [{ ...document, requireSignature: value === 'on' }, `signatures ${value === 'on' ? 'required' : 'optional'}`];
    }
  }
}

/** A public key as written (`ssh-ed25519 AAAA… comment`), or the file holding it (`~/.ssh/id_ed25519.pub`). */
async function publicKeyArg(value: string): Promise<string> {
  if (/^(ssh|ecdsa|sk)-/.test(value)) return value;
  const text = await readFile(value, 'utf8').catch(() => {
    throw new UsageError(`"${value}" is neither a public key (ssh-ed25519 AAAA…) nor a file holding one`);
  });
  const line = text.split(/\r?\n/).find((l) => l.trim() !== '' && !l.startsWith('#'));
  if (!line) throw new UsageError(`${value} holds no public key`);
  return line.trim();
}

function isoArg(flag: string, value: string): string {
  if (!parseIsoTime(value)) throw new UsageError(`${flag} takes an ISO-8601 date or date-time with its offset (2027-01-31, 2027-01-31T12:00:00Z)`);
  return value;
}

function trustText(trust: {
  orgId: string;
  requireSignature: boolean;
  signers: Array<{ principal: string; fingerprint: string; validAfter?: string; validBefore?: string }>;
  revokedKeys: string[];
}): string {
  const window = (s: { validAfter?: string; validBefore?: string }) =>
    s.validAfter || s.validBefore ? `${s.validAfter ?? '…'} to ${s.validBefore ?? '…'}` : 'always';
  const lines = [`${trust.orgId}: signatures ${trust.requireSignature ? 'required' : 'optional'}`];
  lines.push(table(trust.signers.map((s) => [s.principal, s.fingerprint, window(s)])) || 'no trusted signers');
  for (const revoked of trust.revokedKeys) lines.push(`revoked ${revoked}`);
  return lines.join('\n');
}
