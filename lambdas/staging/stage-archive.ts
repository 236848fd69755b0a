import { createReadStream } from 'node:fs';
import { mkdtemp, open, rm, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { IntegrityMismatch, ManifestInvalid } from '../shared/errors.js';
import type { ContentHash, PluginName, RevisionFile } from '../shared/types.js';
import { comparePaths, contentHash } from '@molecule/plugins-sdk/contract/content-hash';
import { NO_MANIFEST_HASH, pluginStatement } from '@molecule/plugins-sdk/signing';
import {
  MANIFEST_PATH,
  MAX_MANIFEST_BYTES,
  SKILL_HEAD_BYTES,
  checkManifest,
  checkSkillFile,
  parseManifest,
  type Manifest,
  type ManifestCheck,
} from '../plugins/manifest.js';
import { parsePluginName } from '../plugins/names.js';
import { packNormalized, type PackEntry } from '../plugins/pack.js';
import { InOrderPacker } from '../plugins/ordered-pack.js';
import { SpillOutput } from '../plugins/spill-output.js';
import type { ArchiveLimits } from '../plugins/archive-budget.js';
import { type SignatureFile, spoolArchive, type SpooledArchive } from '../plugins/spool-archive.js';

export type { ArchiveLimits } from '../plugins/archive-budget.js';

export interface StageOptions {
  limits: ArchiveLimits;
  /** Drop the archive's single top-level directory (GitHub tarballs). */
  stripTopLevel: boolean;
  /** The name when `plugin.yaml` does not give one (the repo name, the registry key, ...). */
  fallbackName: string;
  /** The `sha256` the request carried, if any. */
  expectedSha256?: string | null;
  /** Where the private work dir is made; defaults to the OS temp dir. */
  tmpDir?: string;
  signal?: AbortSignal;
  /**
   * Judges the plugin's signature once everything else passed and before anything is stored (the
   * Stage step's check against the org's trust); throwing refuses the plugin.
   */
  vet?: (signed: SignedContent) => Promise<void>;
}

/** What a plugin signature must sign (SPEC §11), and the root plugin.sig when the plugin has one. */
export interface SignedContent {
  /** `molecule-plugin <name> <version> <content hash> <manifest hash>` */
  statement: string;
  signature: SignatureFile | undefined;
}

export interface StagedArchiveInfo {
  name: PluginName;
  contentHash: ContentHash;
  /** byte length of `normalized`, e.g. for S3 `PutObject` */
  contentLength: number;
}

/** Receives the normalized archive; it is only called once the plugin passed every check. */
export type StageSink = (normalized: Readable, info: StagedArchiveInfo) => Promise<void>;

export interface StageResult {
  name: PluginName;
  manifest: Manifest;
  contentHash: ContentHash;
  /** every regular file, sorted by path */
  files: Array<[path: string, sha256: string]>;
  /** the same files with their sizes: what a revision records (SPEC §9) */
  fileList: RevisionFile[];
  fileCount: number;
  totalBytes: number;
  compressedBytes: number;
  /** size of the normalized archive handed to the sink */
  archiveBytes: number;
  warnings: string[];
  /** the statement a signature of this plugin signs, and its root plugin.sig (left out of the archive) */
  signed: SignedContent;
}

/**
 * The Stage step's core (SPEC §3): reads a plugin archive once, validates and measures it,
 * parses its manifest and checks its content hash. File contents wait in a private temp dir
 * between the pass and the output (sorting needs all of them). The normalized archive stays
 * in memory while small, else is written there too, so `sink` gets its length with it (S3
 * `PutObject` needs one for a stream). The dir is removed however this ends.
 */
export async function stageArchive(body: Readable, sink: StageSink, opts: StageOptions): Promise<StageResult> {
  // The source can fail before the pass listens to it (a reset connection or the fetch budget's
  // abort while the work dir is being made): with no listener its 'error' would end the process.
  // The pass finds such an error in `body.errored`, and listens for later ones itself.
  body.on('error', () => undefined);
  const workDir = await mkdtemp(join(opts.tmpDir ?? tmpdir(), 'plugin-stage-'));
  let packer: InOrderPacker | undefined;
  try {
    opts.signal?.throwIfAborted();
    const archivePath = join(workDir, 'normalized.tar.gz');
    packer = new InOrderPacker(archivePath);
    const spooled = await spoolArchive(body, workDir, { ...opts, packer });
    const spool = await open(spooled.spoolPath, 'r');
    try {
      const { manifest, warnings: manifestWarnings } = await readManifest(spooled, spool);
      const name = manifest.name ?? parsePluginName(opts.fallbackName);
      const fileList = [...spooled.files.values()]
        .map(({ path, sha256, size }): RevisionFile => ({ path, sha256, size }))
        .sort((a, b) => comparePaths(a.path, b.path));
      const files = fileList.map(({ path, sha256 }): [string, string] => [path, sha256]);
      const hash = contentHash(files);
      checkIntegrity(hash, manifest.sha256, opts.expectedSha256);
      const signed: SignedContent = {
        statement: pluginStatement({
          name,
          version: manifest.version,
          contentHash: hash,
          // The manifest hash is the hash of its bytes, which the spool already took.
          manifestHash: spooled.files.get(MANIFEST_PATH)?.sha256 ?? NO_MANIFEST_HASH,
        }),
        signature: spooled.signature,
      };
      await opts.vet?.(signed);
      const warnings = [
        ...spooled.warnings,
        ...manifestWarnings,
        ...missingSkillWarnings(manifest, files),
        ...(await skillFileWarnings(spooled, spool)),
        ...(await jsonWarnings(spooled, spool)),
      ];

      // Entries that came in normalized order are already packed; otherwise pack from the spool.
      let output = packer.output;
      if (!(await packer.finish())) {
        await rm(archivePath, { force: true });
        output = new SpillOutput(archivePath);
        await pipeline(packNormalized(packEntries(spooled, spool)), output, { signal: opts.signal });
      }
      const archive = output.result;
      const archiveBytes = archive.size;
      opts.signal?.throwIfAborted();
      const normalized = 'buffer' in archive ? Readable.from([archive.buffer], { objectMode: false }) : createReadStream(archive.path);
      try {
        await sink(normalized, { name, contentHash: hash, contentLength: archiveBytes });
      } finally {
        normalized.destroy();
      }

      return {
        name,
        manifest,
        contentHash: hash,
        files,
        fileList,
        fileCount: files.length,
        totalBytes: spooled.totalBytes,
        compressedBytes: spooled.compressedBytes,
        archiveBytes,
        warnings,
        signed,
      };
    } finally {
      await spool.close();
    }
  } finally {
    // A rejected pass may leave the source half read; let go of its connection.
    body.destroy();
    packer?.abandon();
    await rm(workDir, { recursive: true, force: true });
  }
}

/** A declared skill with no `skills/<name>/` files installs nothing for it: worth telling the user. */
function missingSkillWarnings(manifest: Manifest, files: Array<[string, string]>): string[] {
  return manifest.skills
    .filter((skill) => !files.some(([path]) => path.startsWith(`skills/${skill}/`)))
    .map((skill) => `plugin.yaml declares skill "${skill}" but the plugin has no skills/${skill}/ files`);
}

function checkIntegrity(actual: ContentHash, declared: string | undefined, requested: string | null | undefined): void {
  if (declared && declared !== actual) {
    throw new IntegrityMismatch(`plugin.yaml declares sha256 ${declared} but the content hashes to ${actual}`, {
      expected: declared,
      actual,
    });
  }
  const expected = requested?.toLowerCase();
  if (expected && expected !== actual) {
    throw new IntegrityMismatch(`sha256 mismatch: expected ${expected}, got ${actual}`, { expected, actual });
  }
}

async function readManifest({ files, directories }: SpooledArchive, spool: FileHandle): Promise<ManifestCheck> {
  const inside = `${MANIFEST_PATH}/`;
  if (directories.has(MANIFEST_PATH) || [...files.keys()].some((path) => path.startsWith(inside))) {
    throw new ManifestInvalid('plugin.yaml is a directory; it must be a file');
  }
  const file = files.get(MANIFEST_PATH);
  // No plugin.yaml at all is a plugin named by its source (SPEC §2): nothing to warn about.
  if (!file) return { manifest: parseManifest(new Uint8Array()), warnings: [] };
  if (file.size > MAX_MANIFEST_BYTES) throw new ManifestInvalid(`plugin.yaml is larger than ${MAX_MANIFEST_BYTES} bytes`);
  const { buffer, bytesRead } = await spool.read(Buffer.alloc(file.size), 0, file.size, file.offset);
  return checkManifest(buffer.subarray(0, bytesRead));
}

/** Enough to see what is wrong; the rest is summarized in one line. */
const MAX_SKILL_WARNINGS = 20;

/**
 * Each folder under `skills/` should hold a SKILL.md whose frontmatter names it (agentskills.io,
 * as `molecule_plugin validate` checks). Only the first {@link SKILL_HEAD_BYTES} of each file are
 * read, into one buffer, so memory stays bounded however many skills a plugin has.
 */
async function skillFileWarnings({ files, directories }: SpooledArchive, spool: FileHandle): Promise<string[]> {
  const folders = new Set<string>();
  for (const path of [...files.keys(), ...directories]) {
    const [top, folder, ...rest] = path.split('/');
    if (top === 'skills' && folder !== undefined && (rest.length > 0 || directories.has(path))) folders.add(folder);
  }
  const head = Buffer.alloc(SKILL_HEAD_BYTES);
  const warnings: string[] = [];
  for (const folder of [...folders].sort()) {
    const file = files.get(`skills/${folder}/SKILL.md`);
    let warning: string | undefined;
    if (!file) {
      warning = `skills/${folder}/ has no SKILL.md, so runtimes will not load it as a skill`;
    } else {
      const { bytesRead } = await spool.read(head, 0, Math.min(file.size, SKILL_HEAD_BYTES), file.offset);
      warning = checkSkillFile(folder, head.subarray(0, bytesRead), file.size <= SKILL_HEAD_BYTES);
    }
    if (warning) warnings.push(warning);
  }
  if (warnings.length <= MAX_SKILL_WARNINGS) return warnings;
  return [...warnings.slice(0, MAX_SKILL_WARNINGS), `${warnings.length - MAX_SKILL_WARNINGS} more skills have SKILL.md problems`];
}

/** What a runtime parses at a plugin's root when it loads it (SPEC §9). */
const PARSED_JSON_PATHS = ['.mcp.json', 'hooks/hooks.json'];
/**
 * MCP configs and hook lists are a few KiB; past this a file is not read, so one plugin cannot
 * make the stage hold a large file in memory. Such a file is not claimed valid either: it gets a
 * warning of its own, `unchecked_json`.
 */
const MAX_CHECKED_JSON_BYTES = 1024 * 1024;

/**
 * A plugin whose `.mcp.json` or `hooks/hooks.json` is not valid JSON still stages (Stage does not
 * judge hooks or MCP configs), but a runtime will fail to load it and the health gate will undo
 * it: `invalid_json: <path>` says so before that.
 */
async function jsonWarnings({ files }: SpooledArchive, spool: FileHandle): Promise<string[]> {
  const warnings: string[] = [];
  for (const path of PARSED_JSON_PATHS) {
    const file = files.get(path);
    if (!file) continue;
    if (file.size > MAX_CHECKED_JSON_BYTES) {
      warnings.push(`unchecked_json: ${path} is larger than ${MAX_CHECKED_JSON_BYTES} bytes, so it was not checked`);
      continue;
    }
    const { buffer, bytesRead } = await spool.read(Buffer.alloc(file.size), 0, file.size, file.offset);
    try {
      JSON.parse(buffer.subarray(0, bytesRead).toString('utf8'));
    } catch {
      warnings.push(`invalid_json: ${path}`);
    }
  }
  return warnings;
}

/** Files up to this size are read from the spool in one positional read; larger ones stream. */
const WHOLE_READ_BYTES = 1024 * 1024;

function packEntries({ files, directories }: SpooledArchive, spool: FileHandle): PackEntry[] {
  const entries: PackEntry[] = [...directories].map((path) => ({ type: 'directory', path }));
  for (const { path, offset, size, executable } of files.values()) {
    // One read per small file: a stream per file costs far more than the bytes (10 000 files).
    const content = async () => {
      if (size > WHOLE_READ_BYTES) return spool.createReadStream({ start: offset, end: offset + size - 1, autoClose: false });
      const { buffer, bytesRead } = await spool.read(Buffer.alloc(size), 0, size, offset);
      return buffer.subarray(0, bytesRead);
    };
    entries.push({ type: 'file', path, size, executable, content });
  }
  return entries;
}
