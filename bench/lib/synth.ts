import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from './proc.js';

export interface SynthesizedFunction {
  /** e.g. `Stage`, `Api`: the logical id without `Function<hash>` */
  name: string;
  logicalId: string;
  memoryMb: number;
  architecture: string;
  /** the bundled entry, `<outdir>/asset.<hash>/index.mjs` */
  bundle: string;
}

export interface Synthesized {
  outDir: string;
  ms: number;
  functions: SynthesizedFunction[];
}

let cached: Promise<Synthesized> | undefined;

/**
 * `cdk synth --quiet` into a private directory under `tmpDir` (not the shared `cdk.out`), once
 * per benchmark run. No `node_modules` is reachable from there: a bundle must carry everything
 * the Lambda runtime lacks, and importing it proves that. `BENCH_CDK_OUT=<dir>` measures an
 * existing synth output instead (e.g. a previous commit's, for a before/after comparison).
 */
export function synthesize(tmpDir: string): Promise<Synthesized> {
  cached ??= (async () => {
    const reuse = process.env.BENCH_CDK_OUT;
    const outDir = reuse ?? join(tmpDir, 'cdk.out');
    const res = reuse ? { ms: 0 } : await run('npx', ['cdk', 'synth', '--quiet', '--output', outDir], { timeoutMs: 600_000 });
    if ('code' in res && res.code !== 0) throw new Error(`cdk synth failed (${res.code}): ${(res.stderr || res.stdout).slice(-2000)}`);
    return { outDir, ms: res.ms, functions: await synthesizedFunctions(outDir) };
  })();
  return cached;
}

/** The bundled functions of a synth output directory (`BENCH_CDK_OUT_BEFORE` reads a second one). */
export async function synthesizedFunctions(outDir: string): Promise<SynthesizedFunction[]> {
  const template = JSON.parse(await readFile(join(outDir, 'MoleculePluginDelivery.template.json'), 'utf8')) as {
    Resources: Record<string, { Type: string; Properties: { Code?: { S3Key?: string }; MemorySize?: number; Architectures?: string[] } }>;
  };
  const functions: SynthesizedFunction[] = [];
  for (const [logicalId, resource] of Object.entries(template.Resources)) {
    if (resource.Type !== 'AWS::Lambda::Function') continue;
    const key = resource.Properties.Code?.S3Key;
    const hash = key?.replace(/\.zip$/, '');
    const bundle = hash ? join(outDir, `asset.${hash}`, 'index.mjs') : '';
    if (!bundle || !existsSync(bundle)) continue; // e.g. CDK's own helper functions, inline code
    functions.push({
      name: logicalId.replace(/Function[0-9A-F]{8}$/, ''),
      logicalId,
      memoryMb: resource.Properties.MemorySize ?? 128,
      architecture: resource.Properties.Architectures?.[0] ?? 'x86_64',
      bundle,
    });
  }
  if (functions.length === 0) throw new Error(`${outDir} has no bundled Lambda functions`);
  return functions;
}
