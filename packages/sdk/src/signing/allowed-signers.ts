import { InvalidAllowedSigners, InvalidPublicKey, SigningInputError } from './errors.js';
import { formatPublicKey, parsePublicKey, type SshPublicKey } from './keys.js';
import { SIGNATURE_NAMESPACE } from './statement.js';
import { isPrincipal, parseIsoTime, type TrustedSigner } from './trust.js';

/**
 * OpenSSH's allowed_signers file (ssh-keygen(1), ALLOWED SIGNERS): one file that both
 * `ssh-keygen -Y verify -f` and `molecule-plugins verify --signers` read. Each line is
 * `principals [options] key`; `#` comments and blank lines are skipped. What this reads differently
 * from ssh-keygen it refuses, naming the line: principal patterns (principals match exactly here),
 * `cert-authority`, and keys other than ed25519.
 */

export interface AllowedSigner {
  readonly principals: readonly string[];
  readonly publicKey: SshPublicKey;
  /** The `namespaces="…"` pattern list; absent: every namespace. */
  readonly namespaces?: readonly string[];
  /** `valid-after`: the key is valid at or after this instant. */
  readonly validAfter?: Date;
  /** `valid-before`: the key is valid at or before this instant. */
  readonly validBefore?: Date;
}

export function parseAllowedSigners(text: string): AllowedSigner[] {
  return text.split(/\r?\n/).flatMap((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return [];
    try {
      return [parseLine(line)];
    } catch (err) {
      if (err instanceof LineError || err instanceof InvalidPublicKey) throw new InvalidAllowedSigners(i + 1, err.message, { cause: err });
      throw err;
    }
  });
}

/** The file for `signers`, one line each; times in UTC (`…Z`), valid-after rounded up and valid-before down to the second. */
export function formatAllowedSigners(signers: readonly AllowedSigner[]): string {
  return signers.map(formatLine).join('');
}

/**
 * The trust document's signers for the lines that allow `namespace` (one signer per principal): what
 * `verify --signers` checks a plugin against.
 */
export function trustedSignersFrom(signers: readonly AllowedSigner[], namespace = SIGNATURE_NAMESPACE): TrustedSigner[] {
  return signers
    .filter((signer) => signer.namespaces === undefined || matchesPatternList(namespace, signer.namespaces))
    .flatMap((signer) =>
      signer.principals.map((principal) => ({
        principal,
        publicKey: formatPublicKey(signer.publicKey),
        ...(signer.validAfter ? { validAfter: signer.validAfter.toISOString() } : {}),
        ...(signer.validBefore ? { validBefore: signer.validBefore.toISOString() } : {}),
      })),
    );
}

/** The allowed_signers lines for a trust document's signers, each limited to `namespace` so the file does not also vouch for git commits. */
export function allowedSignersFrom(signers: readonly TrustedSigner[], namespace = SIGNATURE_NAMESPACE): AllowedSigner[] {
  return signers.map((signer) => {
    const validAfter = signer.validAfter === undefined ? undefined : isoTime(signer.validAfter);
    const validBefore = signer.validBefore === undefined ? undefined : isoTime(signer.validBefore);
    return {
      principals: [signer.principal],
      publicKey: parsePublicKey(signer.publicKey),
      namespaces: [namespace],
      ...(validAfter ? { validAfter } : {}),
      ...(validBefore ? { validBefore } : {}),
    };
  });
}

/**
 * OpenSSH's pattern-list match (ssh_config(5) PATTERNS), used for `namespaces=`: comma-separated
 * patterns with `*` and `?`; a match of a `!`-negated pattern denies whatever else matches.
 */
export function matchesPatternList(value: string, patterns: readonly string[]): boolean {
  let matched = false;
  for (const pattern of patterns) {
    const negated = pattern.startsWith('!');
    if (!globToRegExp(negated ? pattern.slice(1) : pattern).test(value)) continue;
    if (negated) return false;
    matched = true;
  }
  return matched;
}

class LineError extends Error {}

function parseLine(line: string): AllowedSigner {
  const [principalField = '', rest = ''] = splitWord(line);
  if (rest === '') throw new LineError('expected "principals [options] key"');
  const principals = principalField.split(',');
  for (const principal of principals) {
    if (!isPrincipal(principal)) {
      throw new LineError(
        `principal ${JSON.stringify(principal)} is not supported: principals match exactly here, so no patterns (* ? !), quotes or empty names`,
      );
    }
  }
  // As ssh-keygen: a key type where the options would be means there are none.
  const [options, key] = /^(ssh-|ecdsa-|sk-)/.test(rest) ? [undefined, rest] : splitOptions(rest);
  return { principals, publicKey: parsePublicKey(key), ...parseOptions(options) };
}

/** The first whitespace-separated word and what follows it. */
function splitWord(text: string): [string, string] {
  const match = /^(\S+)[ \t]*(.*)$/.exec(text);
  return [match?.[1] ?? '', match?.[2] ?? ''];
}

/** The options field ends at the first space outside double quotes. */
function splitOptions(text: string): [string, string] {
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\\' && quoted && text[i + 1] === '"') i++;
    else if (c === '"') quoted = !quoted;
    else if ((c === ' ' || c === '\t') && !quoted) return [text.slice(0, i), text.slice(i).trimStart()];
  }
  throw new LineError(quoted ? 'an option is missing its closing quote' : 'missing key after the options');
}

type Options = Pick<AllowedSigner, 'namespaces' | 'validAfter' | 'validBefore'>;

/** ssh-keygen's option rules: keywords in any case, values in double quotes, each option once, commas between. */
function parseOptions(text: string | undefined): Options {
  const options: { namespaces?: string[]; validAfter?: Date; validBefore?: Date } = {};
  let rest = text ?? '';
  while (rest !== '') {
    const keyword = /^[A-Za-z-]+/.exec(rest)?.[0] ?? '';
    const name = keyword.toLowerCase();
    if (name === 'cert-authority') {
      throw new LineError('cert-authority lines are not supported: list each signer with their own ed25519 key');
    }
    if ((name !== 'namespaces' && name !== 'valid-after' && name !== 'valid-before') || rest[keyword.length] !== '=') {
      throw new LineError(`unknown option ${JSON.stringify(rest.split(',')[0])} (known: namespaces="…", valid-after="…", valid-before="…")`);
    }
    const [value, after] = dequote(rest.slice(keyword.length + 1), name);
    if (name === 'namespaces') {
      if (options.namespaces) throw new LineError('namespaces is given twice');
      options.namespaces = value.split(',');
    } else {
      const field = name === 'valid-after' ? 'validAfter' : 'validBefore';
      if (options[field]) throw new LineError(`${name} is given twice`);
      options[field] = sshTime(value, name);
    }
    if (after !== '' && !after.startsWith(',')) throw new LineError(`unexpected ${JSON.stringify(after)} after ${name}`);
    if (after === ',') throw new LineError('the options end with a comma');
    rest = after.slice(1);
  }
  if (options.validAfter && options.validBefore && options.validBefore <= options.validAfter) {
    throw new LineError('valid-before is not later than valid-after');
  }
  return options;
}

/** A double-quoted value (`\"` stands for a quote) and what follows it; ssh-keygen refuses unquoted values, and so does this. */
function dequote(text: string, name: string): [string, string] {
  if (!text.startsWith('"')) throw new LineError(`${name} needs its value in double quotes, as ssh-keygen reads it: ${name}="…"`);
  let value = '';
  for (let i = 1; i < text.length; i++) {
    if (text[i] === '\\' && text[i + 1] === '"') {
      value += '"';
      i++;
    } else if (text[i] === '"') {
      return [value, text.slice(i + 1)];
    } else {
      value += text[i];
    }
  }
  throw new LineError(`${name} is missing its closing quote`);
}

/**
 * ssh-keygen's timestamps: `YYYYMMDD`, `YYYYMMDDHHMM` or `YYYYMMDDHHMMSS`, in UTC when suffixed
 * `Z` (or `UTC`), otherwise in this machine's time zone, as ssh-keygen reads them.
 */
function sshTime(value: string, name: string): Date {
  const match = /^(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})(\d{2})?)?(z|utc)?$/i.exec(value);
  const invalid = new LineError(`${name} ${JSON.stringify(value)} is not a time as ssh-keygen writes it: YYYYMMDD[HHMM[SS]][Z]`);
  if (!match) throw invalid;
  const [, year, month, day, hour = '0', minute = '0', second = '0', utc] = match;
  const fields = [Number(year), Number(month) - 1, Number(day), Number(hour), Number(minute), Number(second)] as const;
  const date = utc ? new Date(Date.UTC(...fields)) : new Date(...fields);
  const read = utc
    ? [date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate(), date.getUTCHours(), date.getUTCMinutes(), date.getUTCSeconds()]
    : [date.getFullYear(), date.getMonth(), date.getDate(), date.getHours(), date.getMinutes(), date.getSeconds()];
  // No rolled-over dates (20250230), and like ssh-keygen nothing at or before the epoch.
  if (read.some((field, i) => field !== fields[i]) || date.getTime() <= 0) throw invalid;
  return date;
}

function formatLine(signer: AllowedSigner): string {
  const bad = signer.principals.find((principal) => !isPrincipal(principal));
  if (signer.principals.length === 0 || bad !== undefined)
    throw new SigningInputError(`cannot write principal ${JSON.stringify(bad ?? '')} to allowed_signers`);
  const badNamespace = signer.namespaces?.find((namespace) => !/^[^\s,"]+$/.test(namespace));
  if (badNamespace !== undefined) throw new SigningInputError(`cannot write namespace ${JSON.stringify(badNamespace)} to allowed_signers`);
  const after = signer.validAfter && new Date(Math.ceil(signer.validAfter.getTime() / 1000) * 1000);
  const before = signer.validBefore && new Date(Math.floor(signer.validBefore.getTime() / 1000) * 1000);
  if (after && before && before <= after) throw new SigningInputError(`the window of ${signer.principals.join(',')} is shorter than a second`);
  const options = [
    signer.namespaces && `namespaces="${signer.namespaces.join(',')}"`,
    after && `valid-after="${utcStamp(after)}"`,
    before && `valid-before="${utcStamp(before)}"`,
  ].filter(Boolean);
  const fields = [signer.principals.join(','), ...(options.length > 0 ? [options.join(',')] : []), formatPublicKey(signer.publicKey)];
  return `${fields.join(' ')}\n`;
}

/** `YYYYMMDDHHMMSSZ` */
function utcStamp(date: Date): string {
  return `${date.toISOString().slice(0, 19).replace(/[-:T]/g, '')}Z`;
}

function isoTime(value: string): Date {
  const date = parseIsoTime(value);
  if (!date) throw new SigningInputError(`${JSON.stringify(value)} is not an ISO-8601 time`);
  return date;
}

function globToRegExp(pattern: string): RegExp {
  const source = [...pattern].map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[\\^$.|+()[\]{}]/g, '\\$&'))).join('');
  return new RegExp(`^${source}$`, 's');
}
