import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { type ICommandHooks, NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface HandlerFunctionProps {
  /** The entry file's base name in `lambdas/handlers/`, e.g. `check-allowlist`. */
  handler: string;
  description: string;
  timeout?: Duration;
  memorySize?: number;
  environment?: Record<string, string>;
  /** Runs the function in these subnets with these security groups (see `FunctionNetwork`). */
  network?: FunctionNetwork;
  /** Reserved concurrency: caps this function and keeps that much for it (undefined: the shared pool). */
  reservedConcurrentExecutions?: number;
  /** Extra files for the bundle (the migration function's migrations). */
  commandHooks?: ICommandHooks;
  /** Ship source maps (and `--enable-source-maps`): bigger bundles and slower cold starts, so off unless asked. */
  sourceMaps?: boolean;
  /**
   * Bundle the handler with esbuild (default). `false` deploys a placeholder instead, so tests
   * can synthesize the stack without the handler files and in milliseconds.
   */
  bundle?: boolean;
}

/**
 * The host scripts are read at run time from `scripts/` next to the module using them
 * (lambdas/delivery/host-scripts.ts), which in a bundle is the bundle's own directory.
 */
const HOST_SCRIPTS: ICommandHooks = {
  beforeBundling: () => [],
  beforeInstall: () => [],
  afterBundling: (inputDir: string, outputDir: string) => [`cp -R "${inputDir}/lambdas/delivery/scripts" "${outputDir}/scripts"`],
};

/** The API also serves the ops page's files, read from `ops-page/` next to it (lambdas/api/app.ts). */
export const API_FILES: ICommandHooks = {
  ...HOST_SCRIPTS,
  afterBundling: (inputDir: string, outputDir: string) => [
    ...HOST_SCRIPTS.afterBundling(inputDir, outputDir),
    `cp -R "${inputDir}/lambdas/api/ops-page" "${outputDir}/ops-page"`,
  ],
};

/**
 * CommonJS dependencies bundled into an ES module still call `require` for Node built-ins, and
 * some (ssh2) read `__dirname` / `__filename` when loaded. Every chunk gets this banner, and the
 * chunks sit beside `index.mjs`, so `__dirname` is the bundle's directory in all of them.
 */
const BANNER = [
  "import { createRequire as __createRequire } from 'node:module';",
  "import { fileURLToPath as __fileURLToPath } from 'node:url';",
  'const require = __createRequire(import.meta.url);',
  'const __filename = __fileURLToPath(import.meta.url);',
  "const __dirname = __fileURLToPath(new URL('.', import.meta.url));",
].join(' ');

/**
 * The esbuild command line of a handler's bundle: `index.mjs` with what every invocation needs,
 * and one chunk beside it per dynamic `import()` (each AWS SDK client, ssh2 and the EC2 clients of
 * the EIC path, the S3 presigner, node-pg-migrate), loaded when that path first runs. The AWS SDK
 * is bundled too, at the locked version the tests ran, rather than whatever version the runtime
 * ships. ssh2's optional native add-ons (built for this machine, not the arm64 Lambda) stay out:
 * ssh2 catches their absence and uses its JavaScript crypto. Minified with class and function
 * names kept, because the workflow's Retry/Catch match thrown errors by `name`. No source maps
 * unless asked (bigger bundles, slower cold starts), and no legal comments.
 */
export function esbuildArgs(entry: string, outDir: string, opts: { sourceMaps?: boolean } = {}): string[] {
  return [
    entry,
    '--bundle',
    '--platform=node',
    '--target=node22',
    '--format=esm',
    '--splitting',
    `--outdir=${outDir}`,
    '--entry-names=index',
    '--chunk-names=[name]-[hash]',
    '--out-extension:.js=.mjs',
    '--main-fields=module,main',
    '--minify',
    '--keep-names',
    '--legal-comments=none',
    ...(opts.sourceMaps ? ['--sourcemap', '--sources-content=false'] : []),
    // Node 22 (the runtime) has `navigator`; Node 20 does not, and there pg's Cloudflare check
    // builds a `Response` at load, which loads undici (~28 ms of import on this machine). Node
    // 22's value, fixed at build time, makes the bundle load the same on both.
    `--define:navigator=${JSON.stringify({ userAgent: 'Node.js/22' })}`,
    '--external:cpu-features',
    '--external:*.node',
    `--banner:js=${BANNER}`,
    '--log-level=warning',
  ];
}

/** A handler's entry file, relative to the repository root. */
export const handlerEntry = (handler: string) => `lambdas/handlers/${handler}.ts`;

const shellQuote = (arg: string) => `'${arg.replaceAll("'", "'\\''")}'`;

/**
 * NodejsFunction runs esbuild with `--outfile`, which cannot split code. So its own run only
 * compiles the handler with every package left external (quick, and overwritten), and this hook
 * builds the real bundle into the same directory, before the function's other hooks run
 * (by default the host scripts' copy). Exported for the bundle test, which runs these commands.
 */
export function bundlingHooks(
  handler: string,
  { sourceMaps = false, afterwards = HOST_SCRIPTS }: { sourceMaps?: boolean; afterwards?: ICommandHooks } = {},
): ICommandHooks {
  return {
    beforeBundling: (i, o) => afterwards.beforeBundling(i, o),
    beforeInstall: (i, o) => afterwards.beforeInstall(i, o),
    afterBundling: (inputDir, outputDir) => [
      `rm -f "${outputDir}/index.mjs"`,
      [`"${inputDir}/node_modules/.bin/esbuild"`, ...esbuildArgs(`${inputDir}/${handlerEntry(handler)}`, outputDir, { sourceMaps }).map(shellQuote)].join(' '),
      ...afterwards.afterBundling(inputDir, outputDir),
    ],
  };
}

/** Where the functions run when the database and the workspace hosts are only reachable inside a VPC. */
export interface FunctionNetwork {
  subnetIds: string[];
  securityGroupIds: string[];
}

/**
 * Every Lambda of the service: Node.js 22 on arm64, X-Ray tracing, a log group with a retention,
 * and one bundling recipe. Class names are kept through minification because the workflow's
 * Retry/Catch match thrown errors by `name`.
 */
export class HandlerFunction extends NodejsFunction {
  constructor(scope: Construct, id: string, props: HandlerFunctionProps) {
    const logGroup = new logs.LogGroup(scope, `${id}Logs`, {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const code =
      props.bundle === false
        ? { code: lambda.Code.fromInline('exports.handler = async () => { throw new Error("placeholder code"); };'), handler: 'index.handler' }
        : { entry: path.join(REPO_ROOT, handlerEntry(props.handler)), handler: 'handler' };
    super(scope, id, {
      ...code,
      description: props.description,
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      tracing: lambda.Tracing.ACTIVE,
      timeout: props.timeout ?? Duration.seconds(30),
      memorySize: props.memorySize ?? 256,
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      logGroup,
      environment: {
        ...(props.sourceMaps && { NODE_OPTIONS: '--enable-source-maps' }),
        POWERTOOLS_SERVICE_NAME: 'molecule-plugin-delivery',
        ...props.environment,
      },
      projectRoot: REPO_ROOT,
      depsLockFilePath: path.join(REPO_ROOT, 'package-lock.json'),
      bundling: {
        format: OutputFormat.ESM,
        target: 'node22',
        esbuildArgs: { '--packages': 'external' },
        commandHooks: bundlingHooks(props.handler, {
          sourceMaps: props.sourceMaps,
          afterwards: props.commandHooks ?? (props.handler === 'api' ? API_FILES : undefined),
        }),
      },
    });
    if (props.network) {
      // By id on the function itself: an imported VPC would need its zones, and synth stays offline.
      (this.node.defaultChild as lambda.CfnFunction).vpcConfig = props.network;
      this.role?.addManagedPolicy(iam.ManagedPolicy.fromAwsManagedPolicyName('service-role/AWSLambdaVPCAccessExecutionRole'));
    }
  }
}
