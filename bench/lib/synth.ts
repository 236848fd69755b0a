import { existsSync } from 'node:fs';
import { readFile, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO_ROOT, run } from './proc.js';

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
 * per benchmark run. `node_modules` is linked next to it so the bundles' external `@aws-sdk/*`
 * imports resolve from the project, as they resolve from the runtime on Lambda.
 */
export function synthesize(tmpDir: string): Promise<Synthesized> {
  cached ??= (async () => {
    const outDir = join(tmpDir, 'cdk.out');
    await symlink(join(REPO_ROOT, 'node_modules'), join(tmpDir, 'node_modules'), 'dir');
    const res = await run('npx', ['cdk', 'synth', '--quiet', '--output', outDir], { timeoutMs: 180_000 });
    if (res.code !== 0) throw new Error(`cdk synth failed (${res.code}): ${(res.stderr || res.stdout).slice(-2000)}`);
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
    if (functions.length === 0) throw new Error('cdk synth produced no bundled Lambda functions');
    return { outDir, ms: res.ms, functions };
  })();
  return cached;
}
