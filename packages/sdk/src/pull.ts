import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar, { type Extract } from 'tar-stream';
import YAML from 'yaml';
import { entrySegments } from './contract/archive-path.js';
import { contentHash, type FileDigest } from './contract/content-hash.js';
import { MANIFEST_PATH } from './contract/manifest.js';
import { PLUGIN_NAME_RE } from './contract/names.js';
import { ApiError, type Download, type PluginDeliveryClient } from './client.js';
import { ManifestError, parseManifest } from './contract/manifest.js';
import { checkPluginSignature, NO_MANIFEST_HASH, pluginStatement, type Signer, type TrustDocument } from './signing/index.js';

type Entry = Extract extends AsyncIterable<infer E> ? E : never;

/**
 * The remote-agent side of the download route (external workspaces pull; SPEC §4): streams the
 * staged tarball, unpacks it into a fresh sibling directory with every entry checked (no path
 * outside it, regular files and directories only, bounded size and count), verifies the content
 * hash the API announced and the one `plugin.yaml` declares, then swaps it into
 * `<pluginsDir>/<name>`. A failure leaves the plugin that was there before, untouched.
 */
export interface PullOptions {
  workspaceId: string;
  name: string;
  /** A source other than `local://<name>`. */
  source?: string;
  pluginsDir: string;
  /** The service's own limits (SPEC §3) by default. */
  maxBytes?: number;
  maxFiles?: number;
  /** Called as compressed bytes arrive (`total` when the server sent a length). */
  onProgress?: (progress: { bytes: number; total?: number }) => void;
  /** Told what was not checked and why (an unreadable plugin.yaml), and of a signer not trusted. */
  onWarning?: (message: string) => void;
  /**
   * Trusted signers (SPEC §11): when given, the plugin's signature (`X-Plugin-Signature`) is checked
   * over the statement of what was unpacked, as Stage checks it, and a plugin the document refuses
   * is not installed. `trustFromAllowedSigners` makes one from an allowed_signers file.
   */
  trust?: TrustDocument;
  /** The time signers' windows are read at; default now. */
  now?: () => Date;
}

export interface PulledPlugin {
  dir: string;
  sha256: string;
  files: number;
  /** Who signed it, when `trust` was given and trusts the key. */
  signer?: Signer;
}

const MAX_BYTES = 100 * 1024 * 1024;
const MAX_FILES = 10_000;

export async function pullPlugin(client: PluginDeliveryClient, opts: PullOptions & StagingWait): Promise<PulledPlugin> {
  assertPluginName(opts.name);
  const download = await downloadWhenStaged(client, opts.workspaceId, opts.name, opts.source, opts);
  return installDownload(download, { ...opts, requireAnnouncedHash: true });
}

/** How a pull waits for a plugin the service is still staging (202 + Retry-After). */
export interface StagingWait {
  /** Download attempts in all (default 12: about a minute at the service's 5 s Retry-After). */
  maxAttempts?: number;
  sleep?: (ms: number) => Promise<void>;
}

const STAGING_ATTEMPTS = 12;
const RETRY_AFTER_MIN_S = 1;
const RETRY_AFTER_MAX_S = 30;

/**
 * `client.download`, honouring the service's 202 "still staging" answer: waits what it asks
 * (Retry-After, 1–30 s) and asks again, at most `maxAttempts` times in all.
 */
export async function downloadWhenStaged(
  client: Pick<PluginDeliveryClient, 'download'>,
  workspaceId: string,
  name: string,
  source: string | undefined,
  wait: StagingWait = {},
): Promise<Download> {
  const maxAttempts = Math.max(1, wait.maxAttempts ?? STAGING_ATTEMPTS);
  const sleep = wait.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  for (let attempt = 1; ; attempt++) {
    try {
      return await client.download(workspaceId, name, source);
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 202) throw err;
      if (attempt >= maxAttempts) {
        throw new ApiError(202, 'still_staging', `the service was still staging "${name}" after ${maxAttempts} attempts; try again later`, err.details);
      }
      const asked = Number(err.details.retryAfterSeconds);
      const seconds = Number.isFinite(asked) ? Math.min(RETRY_AFTER_MAX_S, Math.max(RETRY_AFTER_MIN_S, asked)) : 5;
      await sleep(seconds * 1000);
    }
  }
}

export function assertPluginName(name: string): void {
  if (!PLUGIN_NAME_RE.test(name)) throw new ApiError(0, 'invalid_plugin_name', `"${name}" is not a plugin name`);
}

/**
 * Installs an opened download as `<pluginsDir>/<name>`. This service always announces the
 * content hash; the original platform may not, so `requireAnnouncedHash: false` accepts its
 * absence (a declared `sha256` in plugin.yaml is still checked).
 */
export async function installDownload(
  download: Download,
  opts: Omit<PullOptions, 'workspaceId' | 'source'> & { requireAnnouncedHash: boolean },
): Promise<PulledPlugin> {
  assertPluginName(opts.name);
  // The announced name becomes a directory name: it must be the plugin asked for, nothing else.
  if (download.name !== opts.name) {
    download.body.destroy();
    throw new ApiError(0, 'invalid_plugin_name', `the server announced the plugin "${download.name}", not the requested "${opts.name}"`);
  }
  const target = join(opts.pluginsDir, opts.name);
  const staging = join(opts.pluginsDir, `.staging-${download.name}-${randomUUID().slice(0, 8)}`);
  await mkdir(staging, { recursive: true });
  try {
    const files = await unpack(download.body, staging, {
      maxBytes: opts.maxBytes ?? MAX_BYTES,
      maxFiles: opts.maxFiles ?? MAX_FILES,
      ...(opts.onProgress ? { progress: counting(opts.onProgress, download.bytes) } : {}),
    });
    const actual = contentHash(files);
    if (download.sha256 !== actual && (download.sha256 || opts.requireAnnouncedHash)) {
      throw new ApiError(0, 'integrity_mismatch', `the downloaded plugin hashes to ${actual}, not the announced ${download.sha256 || '(none)'}`);
    }
    const declared = await declaredHash(staging, files, opts.onWarning);
    if (declared !== undefined && declared !== actual) {
      throw new ApiError(0, 'integrity_mismatch', `the downloaded plugin hashes to ${actual}, not the ${declared} its plugin.yaml declares`);
    }
    const signer = opts.trust ? await checkSignature(download, staging, files, actual, { ...opts, trust: opts.trust }) : undefined;
    await swapIntoPlace(staging, target);
    return { dir: target, sha256: actual, files: files.length, ...(signer ? { signer } : {}) };
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/**
 * The pulled plugin's signature judged as Stage judges it (SPEC §11): over the statement of the
 * files unpacked (their content hash, the announced name, plugin.yaml's version and bytes), by the
 * given trust at `now`. A refusal throws with Stage's code and context; an untrusted signer is a
 * warning unless the document requires signatures.
 */
async function checkSignature(
  download: Download,
  root: string,
  files: FileDigest[],
  contentHash: string,
  opts: { trust: TrustDocument; now?: () => Date; onWarning?: (message: string) => void },
): Promise<Signer | undefined> {
  const manifestDigest = files.find(([path]) => path === MANIFEST_PATH)?.[1];
  let version: string | undefined;
  try {
    version = manifestDigest === undefined ? undefined : parseManifest(await readFile(join(root, MANIFEST_PATH))).version;
  } catch (err) {
    if (!(err instanceof ManifestError)) throw err;
    throw new ApiError(0, 'manifest_invalid', `the downloaded plugin.yaml cannot be read, so its signature cannot be checked: ${err.message}`);
  }
  const statement = pluginStatement({ name: download.name, version, contentHash, manifestHash: manifestDigest ?? NO_MANIFEST_HASH });
  const verdict = checkPluginSignature({ signature: download.signature, statement, trust: opts.trust, now: opts.now?.() ?? new Date() });
  switch (verdict.verdict) {
    case 'refused': {
      const { code, message, ...context } = verdict.error;
      throw new ApiError(0, code, message, context);
    }
    case 'untrusted':
      opts.onWarning?.(verdict.warning);
      return undefined;
    case 'trusted':
      return verdict.signer;
    case 'unsigned':
      return undefined;
  }
}

function counting(onProgress: NonNullable<PullOptions['onProgress']>, total: number | undefined): Transform {
  let bytes = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      bytes += chunk.length;
      onProgress(total === undefined ? { bytes } : { bytes, total });
      callback(null, chunk);
    },
  });
}

/**
 * The `sha256` the unpacked plugin.yaml declares, as written (the failsafe schema keeps every
 * scalar a string). A manifest that cannot be read leaves nothing to check, as in the Python
 * client; a declared value that is not a hash can never match, so it is returned as it is.
 */
async function declaredHash(root: string, files: FileDigest[], onWarning: PullOptions['onWarning']): Promise<string | undefined> {
  if (!files.some(([path]) => path === MANIFEST_PATH)) return undefined;
  let doc: unknown;
  try {
    doc = YAML.parse(await readFile(join(root, MANIFEST_PATH), 'utf8'), { schema: 'failsafe', logLevel: 'error' });
  } catch (err) {
    onWarning?.(`plugin.yaml could not be read, its sha256 was not checked: ${(err as Error).message.split('\n')[0]}`);
    return undefined;
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return undefined;
  const declared = (doc as Record<string, unknown>).sha256;
  if (declared === undefined || declared === null || declared === '') return undefined;
  return typeof declared === 'string' ? declared : JSON.stringify(declared);
}

function invalid(message: string): ApiError {
  return new ApiError(0, 'invalid_archive', message);
}

/** The one streaming safe extractor: every entry checked, written under `root`; returns the files' digests. */
export async function unpack(
  body: Readable,
  root: string,
  { progress, ...limits }: { maxBytes: number; maxFiles: number; progress?: Transform },
): Promise<FileDigest[]> {
  const state: Unpacked = { files: [], seen: new Set(), limits };
  let bytes = 0;
  const extract = tar.extract();
  const done = progress ? pipeline(body, progress, createGunzip(), extract) : pipeline(body, createGunzip(), extract);
  done.catch(() => undefined); // its failure is read below; until then it must not count as unhandled
  try {
    for await (const entry of extract) bytes += await unpackEntry(entry, root, bytes, state);
    await done;
  } catch (err) {
    body.destroy();
    await done.catch(() => undefined);
    if (err instanceof ApiError) throw err;
    throw invalid(`the downloaded archive could not be unpacked: ${(err as Error).message}`);
  }
  return state.files;
}

interface Unpacked {
  files: FileDigest[];
  seen: Set<string>;
  limits: { maxBytes: number; maxFiles: number };
}

/** Writes one entry under `root`; returns the bytes it added. */
async function unpackEntry(entry: Entry, root: string, bytesSoFar: number, { files, seen, limits }: Unpacked): Promise<number> {
  const { name, type, mode = 0o644 } = entry.header;
  let segments: string[];
  try {
    segments = entrySegments(name);
  } catch (err) {
    throw invalid((err as Error).message);
  }
  const path = segments.join('/');
  if (type === 'directory') {
    if (path) await mkdir(join(root, path), { recursive: true });
    entry.resume();
    return 0;
  }
  if (type !== 'file' || !path) throw invalid(`archive entry "${name}" is a ${type}, not a regular file or directory`);
  if (seen.has(path)) throw invalid(`archive entry "${name}" appears twice`);
  seen.add(path);
  if (files.length >= limits.maxFiles) throw invalid(`the archive has more than ${limits.maxFiles} files`);
  await mkdir(dirname(join(root, path)), { recursive: true });
  const hash = createHash('sha256');
  let written = 0;
  const measure = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      written += chunk.length;
      if (bytesSoFar + written > limits.maxBytes) return callback(invalid(`the archive unpacks to more than ${limits.maxBytes} bytes`));
      hash.update(chunk);
      callback(null, chunk);
    },
  });
  // `wx`: never through something already there (the staging dir is new and holds only what we made).
  await pipeline(entry, measure, createWriteStream(join(root, path), { flags: 'wx', mode: mode & 0o111 ? 0o755 : 0o644 }));
  files.push([path, hash.digest('hex')]);
  return written;
}

/** The previous copy moves aside, the new one takes its name, the previous one goes; restored on failure. */
async function swapIntoPlace(staging: string, target: string): Promise<void> {
  const previous = `${target}.previous-${randomUUID().slice(0, 8)}`;
  const hadPrevious = await stat(target).then(
    () => true,
    () => false,
  );
  if (hadPrevious) await rename(target, previous);
  try {
    await rename(staging, target);
  } catch (err) {
    if (hadPrevious) await rename(previous, target);
    throw err;
  }
  if (hadPrevious) await rm(previous, { recursive: true, force: true });
}
