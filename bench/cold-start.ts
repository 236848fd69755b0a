/**
 * 4. Cold start and size: every bundled Lambda from `cdk synth`. Per function: the size of its
 * entry (`index.mjs`, what the runtime loads at init) and of the lazy chunks beside it, the median
 * time to import the entry in a fresh Node process, and the median time to import it and answer a
 * first invocation (which loads the chunks its start-up needs). A bare `node -e ''` process is
 * timed in the same rounds, for scale: this machine's load moves both. With
 * `BENCH_CDK_OUT_BEFORE=<dir>` (another commit's `cdk synth` output) each function's old bundle is
 * imported in the same rounds too, so before and after share the machine's state.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { run } from './lib/proc.js';
import { type Row, row, type SectionResult } from './lib/report.js';
import { fmtBytes, fmtMs, median, round } from './lib/stats.js';
import { synthesize, synthesizedFunctions } from './lib/synth.js';

export interface ColdStartOptions {
  tmpDir: string;
  runs?: number;
}

const SIZE_TARGET = 1_000_000;
const IMPORT_TARGET_MS = 100;

/**
 * A first invocation that reaches no service: the database is a closed loopback port, every AWS
 * endpoint too (no request leaves the machine), so the handler builds its clients (loading their
 * chunks), then fails on the database or the empty event, and the process reports how long that took.
 */
const INVOKE_ENV: NodeJS.ProcessEnv = {
  PATH: process.env.PATH,
  LOG_LEVEL: 'SILENT',
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'bench',
  AWS_SECRET_ACCESS_KEY: 'bench',
  AWS_ENDPOINT_URL: 'http://127.0.0.1:9',
  AWS_MAX_ATTEMPTS: '1',
  DATABASE_URL: 'postgres://bench@127.0.0.1:9/bench',
  ADMIN_TOKEN: 'bench',
  STATE_MACHINE_ARN: 'arn:aws:states:us-east-1:000000000000:stateMachine:bench',
};

interface Timing {
  /** inside the process: from before `import()` to after it (or after the invocation settled) */
  ms: number;
  /** spawn to exit, from outside */
  processMs: number;
}

async function node(code: string, env?: NodeJS.ProcessEnv): Promise<Timing & { stdout: string }> {
  const res = await run(process.execPath, ['--input-type=module', '--no-warnings', '-e', code], { timeoutMs: 60_000, ...(env && { env }) });
  if (res.code !== 0) throw new Error(`node -e failed (${res.code}): ${res.stderr.slice(-1500)}`);
  const last = res.stdout.trim().split('\n').pop() ?? '';
  const ms = last.startsWith('{') ? (JSON.parse(last) as { ms: number }).ms : Number.NaN;
  return { ms, processMs: res.ms, stdout: res.stdout };
}

/** Imports the bundle; prints the time, and exits only if nothing was left open at module scope. */
const importTime = (bundle: string) =>
  node(`const t = performance.now(); await import(${JSON.stringify(bundle)}); console.log(JSON.stringify({ ms: performance.now() - t }));`);

/** Imports the bundle and invokes its handler once with an empty event (see INVOKE_ENV). */
const invokeTime = (bundle: string) =>
  node(
    `const t = performance.now(); const { handler } = await import(${JSON.stringify(bundle)});
     const context = { getRemainingTimeInMillis: () => 30000, awsRequestId: 'bench' };
     const outcome = await handler({}, context).then(() => 'answered', (e) => 'threw ' + (e?.name ?? 'error'));
     console.log(JSON.stringify({ ms: performance.now() - t, outcome })); process.exit(0);`,
    INVOKE_ENV,
  );

/** The chunks a bundle file imports statically (`import … from "./x.mjs"`), not by `import()`. */
function staticImports(code: string): string[] {
  return [...code.matchAll(/(?:^|[;}\s])(?:import|export)\s*(?:[\w$*{][^"']*?from\s*)?["']\.\/([^"']+\.mjs)["']/g)].map((m) => m[1]!);
}

/**
 * What init loads (the entry and every chunk it imports statically, transitively) and what stays
 * lazy (the other `.mjs` chunks beside it, loaded by `import()` when their path first runs).
 */
async function bundleParts(entry: string): Promise<{ initFiles: string[]; initBytes: number; lazyFiles: string[]; lazyBytes: number }> {
  const dir = dirname(entry);
  const all = (await readdir(dir)).filter((n) => n.endsWith('.mjs'));
  const init = new Set<string>();
  const queue = [basename(entry)];
  while (queue.length) {
    const name = queue.pop()!;
    if (init.has(name)) continue;
    init.add(name);
    queue.push(...staticImports(await readFile(join(dir, name), 'utf8')));
  }
  const size = async (names: string[]) => (await Promise.all(names.map(async (n) => (await stat(join(dir, n))).size))).reduce((a, b) => a + b, 0);
  const lazyFiles = all.filter((n) => !init.has(n));
  return { initFiles: [...init], initBytes: await size([...init]), lazyFiles, lazyBytes: await size(lazyFiles) };
}

export async function runColdStart(opts: ColdStartOptions): Promise<SectionResult> {
  const runs = opts.runs ?? 10;
  const synth = await synthesize(opts.tmpDir);
  const rows: Row[] = [];
  const perFunction: Record<string, unknown> = {};

  const beforeDir = process.env.BENCH_CDK_OUT_BEFORE;
  const beforeFunctions = beforeDir ? await synthesizedFunctions(beforeDir) : undefined;
  const facts = [];
  for (const fn of synth.functions) {
    const parts = await bundleParts(fn.bundle);
    const entryBytes = (await stat(fn.bundle)).size;
    const map = await stat(`${fn.bundle}.map`)
      .then((s) => s.size)
      .catch(() => 0);
    let zipped = 0;
    for (const f of [...parts.initFiles, ...parts.lazyFiles]) zipped += deflateRawSync(await readFile(join(dirname(fn.bundle), f)), { level: 9 }).length;
    const before = beforeFunctions?.find((b) => b.name === fn.name);
    facts.push({ fn, entryBytes, parts, map, zipped, imports: [] as Timing[], invokes: [] as Timing[], outcome: '', before, beforeImports: [] as Timing[] });
  }
  // Timings in rounds (every function and the bare process once per round), so drift on the
  // machine spreads over all of them instead of landing on whichever ran last.
  const bare: number[] = [];
  for (let i = 0; i < runs; i++) {
    bare.push((await node('')).processMs);
    for (const f of facts) {
      f.imports.push(await importTime(f.fn.bundle));
      if (f.before) f.beforeImports.push(await importTime(f.before.bundle));
      const inv = await invokeTime(f.fn.bundle);
      f.invokes.push(inv);
      f.outcome = (JSON.parse(inv.stdout.trim().split('\n').pop()!) as { outcome: string }).outcome;
    }
  }
  const bareMs = median(bare);
  rows.push(
    row({
      metric: "Bare `node -e ''` process (for scale)",
      value: round(bareMs, 1),
      unit: 'ms',
      measured: fmtMs(bareMs),
      notes: `spawn to exit, median of ${runs}, in the same rounds as the imports: what this machine charges any Node process now`,
    }),
  );

  for (const { fn, entryBytes, parts, map, zipped, imports, invokes, outcome, before, beforeImports } of facts) {
    const importMs = median(imports.map((t) => t.ms));
    const processMs = median(imports.map((t) => t.processMs));
    const invokeMs = median(invokes.map((t) => t.ms));
    const beforeMs = before ? median(beforeImports.map((t) => t.ms)) : undefined;
    const beforeBytes = before ? (await bundleParts(before.bundle)).initBytes : undefined;
    rows.push(
      row({
        metric: `Lambda ${fn.name}: median import`,
        value: round(importMs, 1),
        unit: 'ms',
        target: { op: '<', value: IMPORT_TARGET_MS, unit: 'ms' },
        measured: fmtMs(importMs),
        ...(beforeMs !== undefined && {
          baseline: { what: 'the same import of the BENCH_CDK_OUT_BEFORE bundle, same rounds', value: round(beforeMs, 1), unit: 'ms' },
        }),
        notes: `${beforeMs !== undefined ? `before ${fmtMs(beforeMs)} (same rounds); ` : ''}process ${fmtMs(processMs)} (bare node ${fmtMs(bareMs)}); import + first invocation ${fmtMs(invokeMs)} (${outcome}); ${fn.memoryMb} MB ${fn.architecture}`,
      }),
      row({
        metric: `Lambda ${fn.name}: bundle size (what init loads)`,
        value: round(parts.initBytes / 1e6, 3),
        unit: 'MB',
        target: { op: '<', value: SIZE_TARGET / 1e6, unit: 'MB' },
        measured: fmtBytes(parts.initBytes),
        notes: `${beforeBytes !== undefined ? `before ${fmtBytes(beforeBytes)}; ` : ''}index.mjs ${fmtBytes(entryBytes)} + ${parts.initFiles.length - 1} chunk(s) it imports; ${parts.lazyFiles.length} lazy chunk(s) ${fmtBytes(parts.lazyBytes)}${map ? `; source map ${fmtBytes(map)}` : ''}; zip ≈ ${fmtBytes(zipped)}`,
      }),
    );
    perFunction[fn.name] = {
      logicalId: fn.logicalId,
      memoryMb: fn.memoryMb,
      entryBytes,
      initBytes: parts.initBytes,
      initFiles: parts.initFiles,
      lazyChunks: parts.lazyFiles.length,
      lazyBytes: parts.lazyBytes,
      sourceMapBytes: map,
      zipBytesApprox: zipped,
      importMs: imports.map((t) => round(t.ms, 1)),
      importMedianMs: round(importMs, 1),
      processWallMedianMs: round(processMs, 1),
      firstInvocationMs: invokes.map((t) => round(t.ms, 1)),
      firstInvocationMedianMs: round(invokeMs, 1),
      firstInvocationOutcome: outcome,
      ...(before && {
        before: { bundle: before.bundle, initBytes: beforeBytes, importMs: beforeImports.map((t) => round(t.ms, 1)), importMedianMs: round(beforeMs!, 1) },
      }),
    };
  }
  const imports = facts.map((f) => median(f.imports.map((t) => t.ms)));
  const lifetimes = facts.map((f) => median(f.imports.map((t) => t.processMs)));
  const findings = [
    synth.ms
      ? `\`cdk synth --quiet\` into a private directory took ${round(synth.ms / 1000, 1)} s. ${synth.functions.length} functions.`
      : `Measured the existing synth output in BENCH_CDK_OUT (${synth.outDir}). ${synth.functions.length} functions.`,
    `Import: \`node --input-type=module -e "await import(<index.mjs>)"\`, ${runs} fresh processes per function, median; no node_modules is reachable from the bundles, so each carries everything it needs. Every process exited by itself after the import (median lifetime ${fmtMs(median(lifetimes))} vs import ${fmtMs(median(imports))}; a bare \`node -e ''\` ${fmtMs(bareMs)}), so no module keeps a connection or timer open.`,
    `First invocation: import, then \`handler({})\` with the database and every AWS endpoint on a closed loopback port: the handler builds its runtime and clients (loading the chunks they live in) and fails on the database or the event; the time is import to settle.`,
    `Measured on this machine (x86_64, Node ${process.version}); Lambda runs Node.js 22 on arm64, so absolute times there differ.`,
  ];
  return {
    name: 'Cold start and size',
    rows,
    findings,
    data: {
      runs,
      beforeDir,
      synthMs: round(synth.ms, 0),
      bareNodeProcessMs: bare.map((v) => round(v, 1)),
      bareNodeProcessMedianMs: round(bareMs, 1),
      functions: perFunction,
    },
  };
}
