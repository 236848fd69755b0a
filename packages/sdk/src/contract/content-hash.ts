import { createHash } from 'node:crypto';
import type { ContentHash } from './names.js';
import { MANIFEST_PATH } from './manifest.js';

/** `[relative path, lowercase hex sha256 of the file's bytes]` */
export type FileDigest = readonly [path: string, sha256: string];

/** A plugin's signature at its root (SPEC §11): never installed, and not part of what it signs. */
export const SIGNATURE_PATH = 'plugin.sig';

/**
 * The content hash of SPEC §3, identical to the seed SDK's `verify_plugin_sha256`: the
 * `[path, sha256]` pairs of every regular file except the root `plugin.yaml` and the root
 * `plugin.sig`, sorted by path, serialized as Python's `json.dumps(pairs)`, then sha256 of those
 * UTF-8 bytes. The manifest is left out because it may carry the hash itself, the signature
 * because it signs the hash (SPEC §11).
 */
export function contentHash(files: Iterable<FileDigest>): ContentHash {
  const pairs = [...files].filter(([path]) => path !== MANIFEST_PATH && path !== SIGNATURE_PATH).sort(byPath);
  return createHash('sha256').update(pythonJsonDumps(pairs), 'utf8').digest('hex') as ContentHash;
}

/** UTF-16 units where their order and code point order can disagree: surrogates against U+E000–U+FFFF. */
const HIGH_UNITS = /[\ud800-\uffff]/;

/**
 * Python sorts `str` by code point; UTF-8 byte order is code point order. UTF-16 unit order (JS
 * `<`) is the same for every string without surrogates or units from U+E000 up, which is nearly
 * every path: those compare without encoding (sorting 10 000 paths encodes ~260 000 Buffers otherwise).
 */
export function comparePaths(a: string, b: string): number {
  if (a === b) return 0;
  if (!HIGH_UNITS.test(a) && !HIGH_UNITS.test(b)) return a < b ? -1 : 1;
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function byPath(a: FileDigest, b: FileDigest): number {
  return comparePaths(a[0], b[0]);
}

/** `json.dumps` of a list of string lists, with Python's defaults (`", "` separators, `ensure_ascii`). */
export function pythonJsonDumps(rows: ReadonlyArray<ReadonlyArray<string>>): string {
  return `[${rows.map((row) => `[${row.map(pythonJsonString).join(', ')}]`).join(', ')}]`;
}

/**
 * `JSON.stringify` already escapes exactly what Python does below U+007F (`\"`, `\\`, the
 * short forms `\b \t \n \f \r`, other controls as lowercase `\u00XX`); `ensure_ascii` adds
 * every UTF-16 unit from U+007F up, so characters beyond the BMP become surrogate pairs.
 */
export function pythonJsonString(value: string): string {
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (unit) => `\\u${unit.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
