/**
 * Where a staging call's time went, from stage-one's CPU profiles:
 *
 *   BENCH_CPU_PROF_DIR=/tmp/prof npm run bench -- --only staging
 *   npx tsx bench/lib/profile-summary.ts /tmp/prof [--bytes 1048576] [--top 25]
 *
 * Reads every `stage-bench-<bytes>-<run>.cpuprofile` there with its result line
 * (`stage-bench-<bytes>-<run>.json`, whose `profileWindowsUs` bound the first and the warm call),
 * gives each sample the time to the next one as self time, and sums it per frame and per category
 * inside each window; prints the mean per profile as markdown. Minified frames are named through
 * the bundle's source maps (`stage-one-bundle/*.map`, which staging.ts writes when profiling).
 *
 * Start-up versus work: the warm call does the same work with the code compiled, the S3 client
 * connected and zlib initialised, so per category the warm call's time is work and what the first
 * call spends beyond it is start-up; module evaluation (samples under a module's top-level code)
 * is start-up whole.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { basename, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { REPO_ROOT } from './proc.js';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}
type Window = 'first' | 'warm';

/** A frame as a reader knows it: its module (package, our file or Node built-in) and where in it. */
interface Frame {
  name: string;
  module: string;
  /** the module's top-level code (its evaluation) */
  topLevel: boolean;
}

const sourceMaps = new Map<string, SourceMap | null>();

function sourceMapOf(file: string): SourceMap | null {
  if (!sourceMaps.has(file)) {
    try {
      sourceMaps.set(file, new SourceMap(JSON.parse(readFileSync(`${file}.map`, 'utf8'))));
    } catch {
      sourceMaps.set(file, null);
    }
  }
  return sourceMaps.get(file) ?? null;
}

/** `@smithy/core`, `tar-stream`, `lambdas/plugins/tar-writer.ts` or `node:zlib`. */
function moduleOf(source: string): string {
  const nm = source.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const parts = source.slice(nm + 'node_modules/'.length).split('/');
    return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
  }
  return relative(REPO_ROOT, source);
}

function frameOf(cf: CallFrame): Frame {
  const { functionName, url, lineNumber, columnNumber } = cf;
  const topLevel = functionName === '' && lineNumber === 0 && columnNumber === 0 && url !== '';
  if (url === '') return { name: functionName || '(anonymous)', module: functionName.startsWith('(') ? functionName : '(native)', topLevel };
  if (!url.startsWith('file:')) return { name: `${functionName || '(anonymous)'}`, module: url.replace(/^node:internal\//, 'node:'), topLevel };
  const file = fileURLToPath(url);
  const map = sourceMapOf(file);
  const entry = map?.findEntry(lineNumber, columnNumber);
  if (entry && 'originalSource' in entry && entry.originalSource) {
    const source = resolve(join(file, '..'), entry.originalSource);
    const module = moduleOf(source);
    return { name: `${functionName || '(anonymous)'} @ ${basename(source)}:${entry.originalLine + 1}`, module, topLevel };
  }
  // Code the bundler wrote itself (`__name` of --keep-names, lazy module init) has no source.
  const module = map ? 'esbuild runtime helpers' : basename(file);
  return { name: `${functionName || '(anonymous)'} @ ${basename(file)}:${lineNumber + 1}`, module, topLevel };
}

/** What a module's time is spent on; undefined for generic Node internals (streams, events, buffers), which count for their caller. */
function categoryOfModule(module: string): string | undefined {
  if (module === '(idle)') return 'idle (waiting on the thread pool or the socket)';
  if (module === '(garbage collector)') return 'GC';
  if (module === '(program)') return 'V8 outside JS (compiling, ICs, runtime)';
  if (module === 'node:zlib') return 'zlib (gunzip, gzip)';
  if (/^node:(crypto|internal\/crypto)/.test(module) || module === 'node:crypto/hash') return 'hashing';
  if (/^node:(fs|internal\/fs)|^node:fs\//.test(module)) return 'fs (spool, work dir)';
  if (/^node:(net|http|_http|dns|internal\/http)/.test(module)) return 'HTTP and sockets';
  if (module.startsWith('@aws-sdk/') || module.startsWith('@smithy/') || module.startsWith('@aws-crypto/')) return 'AWS SDK (S3 client, SigV4, request)';
  if (['tar-stream', 'streamx', 'b4a', 'fast-fifo', 'text-decoder', 'queue-tick'].includes(module)) return 'tar-stream (parse)';
  if (/lambdas\/plugins\/(tar-writer|ordered-pack|pack)\.ts$/.test(module)) return 'tar pack (ours)';
  if (['yaml', 'zod'].includes(module) || module.endsWith('manifest.ts') || module.endsWith('manifest-schema.ts')) return 'manifest (yaml, zod)';
  if (/^(lambdas|packages|bench)\//.test(module)) return 'ours: validate, spool, hash, names';
  if (module.startsWith('node:') || module === '(native)' || module === '(root)') return undefined;
  if (module === 'esbuild runtime helpers') return module;
  return `package ${module}`;
}

/** A sample's category: module evaluation if any frame is a module's top level, else the nearest frame that says what it is for. */
function categoryOf(stack: Frame[]): string {
  const leaf = categoryOfModule(stack[0]!.module);
  if (stack[0]!.module.startsWith('(') && leaf) return leaf;
  if (stack.some((f) => f.topLevel)) return 'module evaluation';
  for (const frame of stack) {
    const category = categoryOfModule(frame.module);
    if (category) return category;
  }
  return 'Node internals (streams, events, buffers)';
}

interface Tally {
  byFrame: Map<string, number>;
  byModule: Map<string, number>;
  byCategory: Map<string, number>;
  totalMs: number;
  wallMs: number;
}

const emptyTally = (): Tally => ({ byFrame: new Map(), byModule: new Map(), byCategory: new Map(), totalMs: 0, wallMs: 0 });
const add = (map: Map<string, number>, key: string, ms: number) => map.set(key, (map.get(key) ?? 0) + ms);

function tallyProfile(profile: CpuProfile, windows: Record<'cold' | 'warm', [number, number]>, into: Record<Window, Tally>): void {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const stacks = new Map<number, Frame[]>();
  const stackOf = (id: number): Frame[] => {
    let stack = stacks.get(id);
    if (!stack) {
      stack = [];
      for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) stack.push(frameOf(byId.get(at)!.callFrame));
      stacks.set(id, stack);
    }
    return stack;
  };
  const times: number[] = [];
  let t = profile.startTime;
  for (const delta of profile.timeDeltas) {
    t += delta;
    times.push(t);
  }
  for (const [window, [from, to]] of [
    ['first', windows.cold],
    ['warm', windows.warm],
  ] as const) {
    const tally = into[window];
    tally.wallMs += (to - from) / 1000;
    for (let i = 0; i + 1 < times.length; i++) {
      if (times[i]! < from || times[i]! >= to) continue;
      const ms = (Math.min(times[i + 1]!, to) - times[i]!) / 1000;
      const stack = stackOf(profile.samples[i]!);
      add(tally.byFrame, `${stack[0]!.name} — ${stack[0]!.module}`, ms);
      add(tally.byModule, stack[0]!.module, ms);
      add(tally.byCategory, categoryOf(stack), ms);
      tally.totalMs += ms;
    }
  }
}

export interface ProfileSummary {
  runs: number;
  first: Tally;
  warm: Tally;
  /** of the first call's sampled time: module evaluation, plus what each category spends beyond the warm call */
  startUpMs: number;
  /** the rest: the warm call's time per category */
  workMs: number;
}

export function summarizeProfiles(dir: string, bytes: number): ProfileSummary {
  const tallies: Record<Window, Tally> = { first: emptyTally(), warm: emptyTally() };
  const names = readdirSync(dir).filter((f) => f.startsWith(`stage-bench-${bytes}-`) && f.endsWith('.cpuprofile'));
  for (const name of names) {
    const profile = JSON.parse(readFileSync(join(dir, name), 'utf8')) as CpuProfile;
    const result = JSON.parse(readFileSync(join(dir, name.replace(/\.cpuprofile$/, '.json')), 'utf8')) as {
      profileWindowsUs: Record<'cold' | 'warm', [number, number]>;
    };
    tallyProfile(profile, result.profileWindowsUs, tallies);
  }
  // The mean per profile.
  for (const tally of Object.values(tallies)) {
    for (const map of [tally.byFrame, tally.byModule, tally.byCategory]) for (const [k, v] of map) map.set(k, v / Math.max(1, names.length));
    tally.totalMs /= Math.max(1, names.length);
    tally.wallMs /= Math.max(1, names.length);
  }
  let startUpMs = 0;
  for (const [category, first] of tallies.first.byCategory) {
    // Module evaluation happens once: all of it is start-up.
    startUpMs += category === 'module evaluation' ? first : first - (tallies.warm.byCategory.get(category) ?? 0);
  }
  return { runs: names.length, ...tallies, startUpMs, workMs: tallies.first.totalMs - startUpMs };
}

const ms = (v: number) => v.toFixed(1);

function markdown(bytes: number, top: number, s: ProfileSummary): string {
  const categories = [...new Set([...s.first.byCategory.keys(), ...s.warm.byCategory.keys()])].sort(
    (a, b) => (s.first.byCategory.get(b) ?? 0) - (s.first.byCategory.get(a) ?? 0),
  );
  const lines = [
    `Staging ${bytes} bytes: mean of ${s.runs} profiles; first call ${ms(s.first.wallMs)} ms wall (${ms(s.first.totalMs)} ms sampled), warm call ${ms(s.warm.wallMs)} ms (${ms(s.warm.totalMs)} ms sampled).`,
    '',
    '| category | first call ms | warm call ms | first − warm |',
    '| --- | --- | --- | --- |',
  ];
  for (const c of categories) {
    const first = s.first.byCategory.get(c) ?? 0;
    const warm = s.warm.byCategory.get(c) ?? 0;
    lines.push(`| ${c} | ${ms(first)} | ${ms(warm)} | ${ms(first - warm)} |`);
  }
  lines.push(
    '',
    `Split of the first call: start-up ${ms(s.startUpMs)} ms (module evaluation whole, plus what each category spends beyond the warm call), work ${ms(s.workMs)} ms (the warm call's time per category).`,
    '',
    'Self time per module (top 15 in the first call):',
    '',
    '| module | first call ms | warm call ms |',
    '| --- | --- | --- |',
    ...[...s.first.byModule.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 15)
      .map(([module, first]) => `| ${module} | ${ms(first)} | ${ms(s.warm.byModule.get(module) ?? 0)} |`),
    '',
    `Top ${top} frames by self time in the first call:`,
    '',
    '| self ms (first) | self ms (warm) | frame — module |',
    '| --- | --- | --- |',
  );
  const frames = [...s.first.byFrame.entries()].sort((a, b) => b[1] - a[1]).slice(0, top);
  for (const [frame, first] of frames) lines.push(`| ${ms(first)} | ${ms(s.warm.byFrame.get(frame) ?? 0)} | ${frame.replace(/\|/g, '\\|')} |`);
  return lines.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { bytes: { type: 'string', default: String(1024 * 1024) }, top: { type: 'string', default: '25' } },
  });
  const dir = positionals[0] ?? process.env.BENCH_CPU_PROF_DIR;
  if (!dir) throw new Error('usage: profile-summary.ts <BENCH_CPU_PROF_DIR> [--bytes 1048576] [--top 25]');
  const bytes = Number(values.bytes);
  process.stdout.write(`${markdown(bytes, Number(values.top), summarizeProfiles(dir, bytes))}\n`);
}
