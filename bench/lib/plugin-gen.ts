/**
 * Deterministic synthetic plugins for the benchmarks: a realistic mix of text (markdown rules,
 * skills and docs; TypeScript/Python/shell tools; JSON and YAML configs) with a few incompressible
 * binary assets, about 1 000 files per 10 MiB. The same (name, bytes, seed) always yields the same
 * files, so runs are comparable.
 */
import { createWriteStream } from 'node:fs';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import tar from 'tar-stream';

export interface GeneratedFile {
  path: string;
  content: Buffer;
  executable: boolean;
}

export interface GeneratedPlugin {
  name: string;
  files: GeneratedFile[];
  /** sum of file sizes (what `maxDirBytes` limits) */
  totalBytes: number;
  /** distinct directories, parents included */
  directories: string[];
}

export interface GenerateOptions {
  name: string;
  /** total uncompressed bytes of all files, plugin.yaml included */
  totalBytes: number;
  seed?: number;
  /** average file size; the default gives ~1 000 files per 10 MiB */
  meanFileBytes?: number;
  /** how many files share one directory */
  filesPerDirectory?: number;
}

/** ~1 000 files per 10 MiB; keeps a 100 MiB plugin (files + directories) under the default 10 000-entry limit. */
export const DEFAULT_MEAN_FILE_BYTES = Math.round((10 * 1024 * 1024) / 990);

/** mulberry32: tiny, fast, good enough for test data. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = (
  'the a of to and in is for that it with as on be this are by or from at an can not use when you your should each ' +
  'agent plugin workspace review change test tests commit branch rule rules skill skills hook hooks config file files ' +
  'directory path error errors request response token tokens install update remove restart runtime model context tool ' +
  'tools command commands output input value values check checks guard step steps state workflow deliver staging archive ' +
  'safe unsafe shell script scripts function functions module modules type types interface class method return async ' +
  'await promise stream buffer limit limits size bytes retry timeout server client host instance operation operations ' +
  'prefer always never only before after first last every other same new old small large fast slow clear short long ' +
  'write read run start stop open close create delete list show find keep make take give call send fetch parse build ' +
  'code quality naming scope risk risky behaviour documented explicit implicit boundary invariant contract version ' +
  'markdown example examples section summary description reason reasons note notes warning warnings important ' +
  'database query queries index table row rows column schema migration migrations transaction lock lease cache memory'
).split(/\s+/);

const IDENTS = (
  'config options result value items entry entries path name size count limit handler request response client logger ' +
  'state input output error ctx deps plugin workspace token source target buffer stream chunk offset length index'
).split(/\s+/);

type Kind = 'md' | 'ts' | 'py' | 'sh' | 'json' | 'yaml' | 'png';

/** Share of files per kind (bytes follow roughly, binaries are rare). */
const KIND_WEIGHTS: Array<[Kind, number]> = [
  ['md', 0.55],
  ['ts', 0.12],
  ['py', 0.06],
  ['sh', 0.04],
  ['json', 0.1],
  ['yaml', 0.1],
  ['png', 0.03],
];

const POOL_BYTES: Record<Kind, number> = { md: 4 << 20, ts: 2 << 20, py: 1 << 20, sh: 1 << 20, json: 1 << 20, yaml: 1 << 20, png: 2 << 20 };

function pick<T>(rand: () => number, items: readonly T[]): T {
  return items[Math.floor(rand() * items.length)]!;
}

/** Zipf-ish word choice: common words much more often, like prose. */
function word(rand: () => number): string {
  const r = rand();
  return WORDS[Math.floor(r * r * WORDS.length)]!;
}

function sentence(rand: () => number): string {
  const n = 6 + Math.floor(rand() * 14);
  const words: string[] = [];
  for (let i = 0; i < n; i++) words.push(word(rand));
  const s = words.join(' ');
  return s[0]!.toUpperCase() + s.slice(1) + (rand() < 0.1 ? '?' : '.');
}

function ident(rand: () => number): string {
  const a = pick(rand, IDENTS);
  return rand() < 0.5 ? a : a + pick(rand, IDENTS).replace(/^./, (c) => c.toUpperCase());
}

function chunk(kind: Kind, rand: () => number): string {
  switch (kind) {
    case 'md': {
      const r = rand();
      if (r < 0.12) return `\n## ${sentence(rand).slice(0, 48).replace(/[.?]$/, '')}\n\n`;
      if (r < 0.35) return `- ${sentence(rand)}\n`;
      if (r < 0.42) return `\n\`\`\`sh\n${pick(rand, ['npm', 'git', 'curl', 'ls', 'grep'])} ${ident(rand)} --${ident(rand)}\n\`\`\`\n\n`;
      return `${sentence(rand)} ${sentence(rand)} ${sentence(rand)}\n\n`;
    }
    case 'ts': {
      const r = rand();
      if (r < 0.2) return `export async function ${ident(rand)}(${ident(rand)}: ${pick(rand, ['string', 'number', 'Buffer', 'Options'])}): Promise<void> {\n`;
      if (r < 0.4) return `  const ${ident(rand)} = await ${ident(rand)}.${ident(rand)}(${ident(rand)}, { ${ident(rand)}: ${Math.floor(rand() * 1000)} });\n`;
      if (r < 0.55) return `  if (!${ident(rand)}) throw new Error('${sentence(rand).slice(0, 40)}');\n`;
      if (r < 0.7) return `  // ${sentence(rand)}\n`;
      if (r < 0.8) return '}\n\n';
      return `  return ${ident(rand)}.${ident(rand)} ?? ${ident(rand)};\n`;
    }
    case 'py': {
      const r = rand();
      if (r < 0.2) return `\ndef ${ident(rand)}(${ident(rand)}, ${ident(rand)}=None):\n    """${sentence(rand)}"""\n`;
      if (r < 0.6) return `    ${ident(rand)} = ${ident(rand)}.${ident(rand)}(${ident(rand)}, ${Math.floor(rand() * 100)})\n`;
      if (r < 0.8) return `    # ${sentence(rand)}\n`;
      return `    return ${ident(rand)}\n`;
    }
    case 'sh': {
      const r = rand();
      if (r < 0.3) return `# ${sentence(rand)}\n`;
      if (r < 0.6) return `${ident(rand).toUpperCase()}="\${${ident(rand).toUpperCase()}:-${ident(rand)}}"\n`;
      return `if [ -f "$${ident(rand).toUpperCase()}" ]; then ${pick(rand, ['echo', 'rm -f', 'cat', 'mkdir -p'])} "$${ident(rand).toUpperCase()}"; fi\n`;
    }
    case 'json':
      return `  "${ident(rand)}": { "${ident(rand)}": ${Math.floor(rand() * 10000)}, "${ident(rand)}": "${word(rand)} ${word(rand)}", "enabled": ${rand() < 0.5} },\n`;
    case 'yaml':
      return rand() < 0.3 ? `${ident(rand)}:\n` : `  ${ident(rand)}: ${rand() < 0.5 ? Math.floor(rand() * 1000) : `"${sentence(rand).slice(0, 60)}"`}\n`;
    case 'png':
      throw new Error('binary pools are random bytes');
  }
}

function makePool(kind: Kind, rand: () => number): Buffer {
  const size = POOL_BYTES[kind];
  if (kind === 'png') {
    const buf = Buffer.allocUnsafe(size);
    for (let i = 0; i < size; i += 4) buf.writeUInt32LE(Math.floor(rand() * 4294967296), i);
    return buf;
  }
  const parts: string[] = [];
  let len = 0;
  while (len < size) {
    const c = chunk(kind, rand);
    parts.push(c);
    len += c.length;
  }
  return Buffer.from(parts.join(''), 'latin1').subarray(0, size);
}

const pools = new Map<Kind, Buffer>();
function pool(kind: Kind): Buffer {
  let p = pools.get(kind);
  if (!p) {
    p = makePool(kind, prng(0x5eed + kind.charCodeAt(0) * 31 + kind.length));
    pools.set(kind, p);
  }
  return p;
}

/** `size` bytes of `kind` content starting at a random offset of its pool. */
function content(kind: Kind, size: number, rand: () => number): Buffer {
  const p = pool(kind);
  const out = Buffer.allocUnsafe(size);
  let written = 0;
  let offset = Math.floor(rand() * p.length);
  while (written < size) {
    const n = Math.min(size - written, p.length - offset);
    p.copy(out, written, offset, offset + n);
    written += n;
    offset = 0;
  }
  return out;
}

const DIR_OF: Record<Kind, string> = { md: 'docs', ts: 'tools', py: 'tools', sh: 'scripts', json: 'config', yaml: 'config', png: 'assets' };

/** Standard normal via Box-Muller. */
function gaussian(rand: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

export function generatePlugin(opts: GenerateOptions): GeneratedPlugin {
  const rand = prng(opts.seed ?? 42);
  const meanBytes = opts.meanFileBytes ?? DEFAULT_MEAN_FILE_BYTES;
  const perDir = opts.filesPerDirectory ?? 250;
  const manifest = Buffer.from(
    [
      `name: ${opts.name}`,
      'version: 1.0.0',
      `description: "Synthetic ${Math.round(opts.totalBytes / 1024)} KiB benchmark plugin"`,
      'author: bench',
      'tags: [bench]',
      'runtimes: [claude-code, hermes, langgraph]',
      'rules:',
      '  - rules/rule-0000.md',
      '',
    ].join('\n'),
  );
  const budget = opts.totalBytes - manifest.length;
  if (budget <= 0) throw new Error(`plugin ${opts.name}: ${opts.totalBytes} bytes is smaller than its manifest`);
  const count = Math.max(2, Math.round(budget / meanBytes));

  // Log-normal sizes (sigma 1: many small files, a few large ones), scaled to hit the budget exactly.
  const raw = Array.from({ length: count }, () => Math.exp(gaussian(rand)));
  const scale = budget / raw.reduce((a, b) => a + b, 0);
  const sizes = raw.map((r) => Math.max(1, Math.floor(r * scale)));
  sizes[sizes.length - 1]! += budget - sizes.reduce((a, b) => a + b, 0);
  if (sizes[sizes.length - 1]! < 1) throw new Error('size rounding went wrong');

  const kindCounters = new Map<string, number>();
  const files: GeneratedFile[] = [{ path: 'plugin.yaml', content: manifest, executable: false }];
  for (let i = 0; i < count; i++) {
    let kind: Kind = 'md';
    let r = rand();
    for (const [k, w] of KIND_WEIGHTS) {
      if (r < w) {
        kind = k;
        break;
      }
      r -= w;
    }
    // A few rules and one skill, the rest are docs/tools/configs/assets in directories of `perDir` files.
    let dir: string;
    let base: string;
    const n = kindCounters.get(kind) ?? 0;
    kindCounters.set(kind, n + 1);
    if (i === 0) {
      dir = 'rules';
      base = 'rule-0000.md';
      kind = 'md';
    } else if (i === 1) {
      dir = 'skills/bench-skill';
      base = 'SKILL.md';
      kind = 'md';
    } else {
      dir = `${DIR_OF[kind]}/part-${String(Math.floor(n / perDir)).padStart(3, '0')}`;
      base = `${kind === 'md' ? 'page' : kind === 'png' ? 'image' : 'file'}-${String(n).padStart(5, '0')}.${kind}`;
    }
    files.push({ path: `${dir}/${base}`, content: content(kind, sizes[i]!, rand), executable: kind === 'sh' });
  }
  const directories = new Set<string>();
  for (const f of files) {
    for (let slash = f.path.indexOf('/'); slash !== -1; slash = f.path.indexOf('/', slash + 1)) directories.add(f.path.slice(0, slash));
  }
  return { name: opts.name, files, totalBytes: opts.totalBytes, directories: [...directories].sort() };
}

/** Writes the plugin as a directory tree (what the local registry publishes from). */
export async function writePluginDir(plugin: GeneratedPlugin, root: string): Promise<void> {
  for (const dir of plugin.directories) await mkdir(join(root, dir), { recursive: true });
  await mkdir(root, { recursive: true });
  for (const f of plugin.files) {
    const path = join(root, f.path);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, f.content);
    if (f.executable) await chmod(path, 0o755);
  }
}

/**
 * Writes the plugin as a `.tar.gz` (gzip level 6, like `tar czf`), plugin files at the archive
 * root, entries in name order (directories as `name/`): the order of GitHub's tarballs and of the
 * registry's normalized archives, which staging packs in one pass. Other orders take a second
 * pass over the spool (see bench/README.md).
 */
export async function writePluginArchive(plugin: GeneratedPlugin, file: string): Promise<void> {
  const pack = tar.pack();
  const mtime = new Date('2024-01-01T00:00:00Z');
  const entries = [...plugin.directories.map((dir) => ({ name: `${dir}/`, file: undefined })), ...plugin.files.map((f) => ({ name: f.path, file: f }))].sort(
    (a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)),
  );
  const fill = (async () => {
    for (const { name, file: f } of entries) {
      await new Promise<void>((resolve, reject) => {
        const done = (err?: Error | null) => (err ? reject(err) : resolve());
        if (!f) pack.entry({ name, type: 'directory', mode: 0o755, mtime }, done);
        else pack.entry({ name, size: f.content.length, mode: f.executable ? 0o755 : 0o644, mtime }, f.content, done);
      });
    }
    pack.finalize();
  })();
  await Promise.all([pipeline(pack, createGzip({ level: 6 }), createWriteStream(file)), fill]);
}
