import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { RevisionFile } from '../shared/types.js';
import { DeliveryFailed } from '../shared/errors.js';

/**
 * The inventory scripts/inventory.sh uploads (SPEC §12): a gzipped tar of NUL-separated listings,
 * sha256sum's lines, each plugin dir's plugin.yaml and each install marker, read back here into
 * plain data. Nothing is judged here (that is plugins/drift.ts); only the host's bytes are parsed.
 */

/** One directory under plugins/ (not a dot-dir, not a symlink): a plugin as the host has it. */
export interface HostPluginDir {
  name: string;
  /** Its inode: an install marker naming it was written for this very directory (scripts/probe.sh). */
  inode: string;
  /** Every regular file under it, by path relative to it, sorted. */
  files: RevisionFile[];
  /** Its root plugin.yaml, when there is one of at most 256 KiB. */
  manifest: Buffer | null;
}

/** One entry of the delivery's own dirs: `.staging/x`, `.previous/x`, `.previous/.markers/x`, `.molecule/x`. */
export interface OwnEntry {
  path: string;
  /** find's %y: `d` directory, `f` file, `l` symlink, … */
  type: string;
}

export interface HostInventory {
  plugins: HostPluginDir[];
  own: OwnEntry[];
  /** Install markers (`.molecule/<name>.json`, at most 8 KiB each) by file name. */
  markers: Map<string, string>;
  /** The config dir's `skills/<name>/…` files: by skill, path within it → sha256. */
  skills: Map<string, Map<string, string>>;
}

/** Past these the inventory is not read: a host cannot make the step hold more than this in memory. */
export const MAX_INVENTORY_BYTES = 256 * 1024 * 1024;

/** Reads an uploaded inventory (gzipped tar). Throws DeliveryFailed when it is not one. */
export async function readInventory(body: Readable): Promise<HostInventory> {
  const { default: tar } = await import('tar-stream');
  const members = new Map<string, Buffer>();
  const extract = tar.extract();
  const gunzip = createGunzip();
  body.on('error', (err) => gunzip.destroy(err));
  gunzip.on('error', (err) => extract.destroy(err));
  body.pipe(gunzip).pipe(extract);
  let total = 0;
  try {
    for await (const entry of extract) {
      const chunks: Buffer[] = [];
      for await (const chunk of entry as AsyncIterable<Buffer>) {
        total += chunk.length;
        if (total > MAX_INVENTORY_BYTES) throw new DeliveryFailed('the workspace inventory is too large to read');
        chunks.push(chunk);
      }
      if (entry.header.type === 'file') members.set(entry.header.name.replace(/^\.\//, ''), Buffer.concat(chunks));
    }
  } catch (err) {
    if (err instanceof DeliveryFailed) throw err;
    throw new DeliveryFailed('the workspace inventory could not be read', {}, { cause: err });
  }
  return parseInventory(members);
}

const LISTING = 'inventory/';

/** The members of an inventory by name (leading `./` removed) into an inventory. */
export function parseInventory(members: ReadonlyMap<string, Buffer>): HostInventory {
  const listing = (name: string) => members.get(`${LISTING}${name}`) ?? Buffer.alloc(0);
  const sums = sha256sums(listing('sums'));
  const byPlugin = new Map<string, RevisionFile[]>();
  for (const record of nulRecords(listing('sizes'))) {
    const [size = '', path = ''] = fields(record, 2);
    const slash = path.indexOf('/');
    if (slash <= 0) continue;
    const sha256 = sums.get(path);
    if (sha256 === undefined) throw new DeliveryFailed(`the workspace inventory lists a file without its sha256 (${JSON.stringify(path)})`);
    const plugin = path.slice(0, slash);
    const files = byPlugin.get(plugin) ?? [];
    files.push({ path: path.slice(slash + 1), sha256, size: Number(size) });
    byPlugin.set(plugin, files);
  }

  const plugins: HostPluginDir[] = [];
  for (const record of nulRecords(listing('top'))) {
    const [type, inode = '', name = ''] = fields(record, 3);
    if (type !== 'd' || name.startsWith('.')) continue;
    const files = (byPlugin.get(name) ?? []).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    plugins.push({ name, inode, files, manifest: members.get(`${name}/plugin.yaml`) ?? null });
  }
  plugins.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

  const own = nulRecords(listing('own')).map((record) => {
    const [type = '', , path = ''] = fields(record, 3);
    return { type, path };
  });
  const markers = new Map<string, string>();
  for (const [name, bytes] of members) {
    if (name.startsWith('.molecule/') && !name.slice('.molecule/'.length).includes('/')) markers.set(name.slice('.molecule/'.length), bytes.toString('utf8'));
  }
  const skills = new Map<string, Map<string, string>>();
  for (const [path, sha256] of sha256sums(listing('skills'))) {
    const slash = path.indexOf('/');
    if (slash <= 0) continue;
    const skill = path.slice(0, slash);
    const files = skills.get(skill) ?? new Map<string, string>();
    files.set(path.slice(slash + 1), sha256);
    skills.set(skill, files);
  }
  return { plugins, own, markers, skills };
}

function nulRecords(bytes: Buffer): string[] {
  const records: string[] = [];
  let start = 0;
  for (let end = bytes.indexOf(0, start); end !== -1; end = bytes.indexOf(0, start)) {
    records.push(bytes.toString('utf8', start, end));
    start = end + 1;
  }
  return records;
}

/** The first `n - 1` tab-separated fields and the rest (a path may hold tabs). */
function fields(record: string, n: number): string[] {
  const out: string[] = [];
  let rest = record;
  for (let i = 1; i < n; i++) {
    const tab = rest.indexOf('\t');
    if (tab === -1) throw new DeliveryFailed('the workspace inventory has a malformed listing');
    out.push(rest.slice(0, tab));
    rest = rest.slice(tab + 1);
  }
  out.push(rest);
  return out;
}

const SUM_LINE = /^(\\?)([0-9a-f]{64}) [ *](.*)$/s;

/**
 * sha256sum's output by path (its leading `./` removed). GNU coreutils escapes a name holding a
 * backslash, a newline or (9.x) a carriage return: the line then starts with `\` and the name has
 * `\\`, `\n` and `\r` for them.
 */
function sha256sums(bytes: Buffer): Map<string, string> {
  const sums = new Map<string, string>();
  for (const line of bytes.toString('utf8').split('\n')) {
    if (line === '') continue;
    const match = SUM_LINE.exec(line);
    if (!match) throw new DeliveryFailed('the workspace inventory has a malformed sha256 line');
    const [, escaped, sha256, raw] = match as unknown as [string, string, string, string];
    const name = escaped ? raw.replace(/\\([\\nr])/g, (_, c: string) => (c === 'n' ? '\n' : c === 'r' ? '\r' : '\\')) : raw;
    sums.set(name.replace(/^\.\//, ''), sha256);
  }
  return sums;
}
