/**
 * 4. Cold start and size: every bundled Lambda from `cdk synth` — its size, and the median time
 * to import it in a fresh Node process (10 runs each). The share of that time spent importing
 * the external `@aws-sdk/*` packages (provided by the Lambda runtime) is measured the same way.
 */
import { readFile, stat } from 'node:fs/promises';
import { deflateRawSync } from 'node:zlib';
import { run } from './lib/proc.js';
import { type Row, row, type SectionResult } from './lib/report.js';
import { fmtBytes, fmtMs, median, round } from './lib/stats.js';
import { synthesize } from './lib/synth.js';

export interface ColdStartOptions {
  tmpDir: string;
  runs?: number;
}

const SIZE_TARGET = 1_000_000;
const IMPORT_TARGET_MS = 100;

/** Imports the modules in a fresh process; prints the import time, and exits only if nothing was left open. */
async function importTime(specifiers: string[]): Promise<{ ms: number; exitedMs: number }> {
  const code = `const t = performance.now(); await Promise.all(${JSON.stringify(specifiers)}.map((s) => import(s))); console.log(JSON.stringify({ ms: performance.now() - t }));`;
  const res = await run(process.execPath, ['--input-type=module', '--no-warnings', '-e', code], { timeoutMs: 30_000 });
  if (res.code !== 0) throw new Error(`importing ${specifiers.join(', ')} failed (${res.code}): ${res.stderr.slice(-1500)}`);
  const { ms } = JSON.parse(res.stdout.trim().split('\n').pop()!) as { ms: number };
  return { ms, exitedMs: res.ms };
}

export async function runColdStart(opts: ColdStartOptions): Promise<SectionResult> {
  const runs = opts.runs ?? 10;
  const synth = await synthesize(opts.tmpDir);
  const rows: Row[] = [];
  const findings: string[] = [];
  const perFunction: Record<string, unknown> = {};
  const sdkTimes = new Map<string, number>();

  // Static facts first, then the timings in rounds (one import of every function per round), so
  // drift on the machine spreads over all functions instead of landing on whichever ran last.
  const facts = [];
  for (const fn of synth.functions) {
    const source = await readFile(fn.bundle);
    const map = await stat(`${fn.bundle}.map`)
      .then((s) => s.size)
      .catch(() => 0);
    // What the deployment zip holds: index.mjs and its source map, deflated.
    const zipped = deflateRawSync(source, { level: 9 }).length + (map ? deflateRawSync(await readFile(`${fn.bundle}.map`), { level: 9 }).length : 0);
    const sdk = [...new Set([...source.toString('utf8').matchAll(/(?:from|import)\s*\(?\s*["'](@aws-sdk\/[^"']+)["']/g)].map((m) => m[1]!))].sort();
    facts.push({ fn, size: source.length, map, zipped, sdk, samples: [] as number[], exits: [] as number[] });
  }
  const sdkSets = [...new Set(facts.filter((f) => f.sdk.length).map((f) => f.sdk.join(',')))];
  const sdkSamples = new Map<string, number[]>(sdkSets.map((k) => [k, []]));
  for (let i = 0; i < runs; i++) {
    for (const f of facts) {
      const t = await importTime([f.fn.bundle]);
      f.samples.push(t.ms);
      f.exits.push(t.exitedMs);
    }
    for (const key of sdkSets) sdkSamples.get(key)!.push((await importTime(key.split(','))).ms);
  }
  for (const [key, samples] of sdkSamples) sdkTimes.set(key, median(samples));

  for (const { fn, size, map, zipped, sdk, samples, exits } of facts) {
    const importMs = median(samples);
    const sdkMs = sdk.length ? sdkTimes.get(sdk.join(','))! : 0;
    rows.push(
      row({
        metric: `Lambda ${fn.name}: median import (bundle size in the text)`,
        value: round(importMs, 1),
        unit: 'ms',
        target: { op: '<', value: IMPORT_TARGET_MS, unit: 'ms' },
        measured: `${fmtBytes(size)} / ${fmtMs(importMs)}`,
        notes: `import ${importMs < IMPORT_TARGET_MS ? 'ok' : 'over'}; zip ≈ ${fmtBytes(zipped)}; ${fn.memoryMb} MB ${fn.architecture}; importing its ${sdk.length} @aws-sdk packages alone: ${fmtMs(sdkMs)}`,
      }),
      row({
        metric: `Lambda ${fn.name}: bundle size`,
        value: round(size / 1e6, 3),
        unit: 'MB',
        target: { op: '<', value: SIZE_TARGET / 1e6, unit: 'MB' },
        measured: fmtBytes(size),
        notes: `index.mjs${map ? `, source map ${fmtBytes(map)}` : ''}`,
      }),
    );
    perFunction[fn.name] = {
      logicalId: fn.logicalId,
      memoryMb: fn.memoryMb,
      bundleBytes: size,
      sourceMapBytes: map,
      zipBytesApprox: zipped,
      importMs: samples.map((v) => round(v, 1)),
      importMedianMs: round(importMs, 1),
      processWallMedianMs: round(median(exits), 1),
      awsSdkPackages: sdk,
      awsSdkImportMedianMs: round(sdkMs, 1),
    };
  }
  // Each SDK package on its own (fewer runs): which ones the import time goes to.
  const allSdk = [...new Set(synth.functions.flatMap((fn) => (perFunction[fn.name] as { awsSdkPackages: string[] }).awsSdkPackages))].sort();
  const perPackage: Record<string, number> = {};
  for (const pkg of allSdk) {
    const samples: number[] = [];
    for (let i = 0; i < Math.min(5, runs); i++) samples.push((await importTime([pkg])).ms);
    perPackage[pkg] = round(median(samples), 1);
  }
  const users = (pkg: string) => synth.functions.filter((fn) => (perFunction[fn.name] as { awsSdkPackages: string[] }).awsSdkPackages.includes(pkg)).length;
  const sdkShares = synth.functions.map((fn) => {
    const d = perFunction[fn.name] as { importMedianMs: number; awsSdkImportMedianMs: number };
    return d.awsSdkImportMedianMs / d.importMedianMs;
  });
  const lifetimes = synth.functions.map((fn) => (perFunction[fn.name] as { processWallMedianMs: number }).processWallMedianMs);
  const imports = synth.functions.map((fn) => (perFunction[fn.name] as { importMedianMs: number }).importMedianMs);
  findings.push(
    `\`cdk synth --quiet\` into a private directory took ${round(synth.ms / 1000, 1)} s (esbuild, ESM, minified, \`@aws-sdk/*\` external as the Node.js 22 runtime provides it). ${synth.functions.length} functions.`,
    `Import time: \`node --input-type=module -e "await import(<bundle>)"\`, ${runs} fresh processes per function, median; \`@aws-sdk/*\` resolves from this repo's node_modules (on Lambda, from the runtime). Every process exited by itself after the import (median process lifetime ${fmtMs(median(lifetimes))} vs import ${fmtMs(median(imports))}), so no handler keeps a connection or timer open from module scope.`,
    `The external AWS SDK clients are ${round(Math.min(...sdkShares) * 100, 0)}–${round(Math.max(...sdkShares) * 100, 0)} % of the import time: the bundles import ${sdkTimes.size} distinct set(s) of SDK packages (${[...sdkTimes.keys()].map((k) => `${k.replace(/@aws-sdk\//g, '')}: ${fmtMs(sdkTimes.get(k)!)}`).join('; ')}).`,
    `Each SDK package alone (median of ${Math.min(5, runs)} fresh processes; they share @smithy/* code, so they do not add up): ${Object.entries(perPackage)
      .sort((a, b) => b[1] - a[1])
      .map(([pkg, ms]) => `${pkg.replace('@aws-sdk/', '')} ${fmtMs(ms)} (imported by ${users(pkg)}/${synth.functions.length} functions)`)
      .join(', ')}.`,
    `Measured on this machine (x86_64, Node ${process.version}); Lambda runs Node.js 22 on arm64, so absolute times there differ.`,
  );
  return {
    name: 'Cold start and size',
    rows,
    findings,
    data: { runs, synthMs: round(synth.ms, 0), functions: perFunction, awsSdkPackageImportMs: perPackage },
  };
}
