/**
 * One staging run in a fresh process, so its peak RSS is its own. staging.ts runs it as the Stage
 * Lambda runs its code: bundled with the Lambda's esbuild arguments, in plain Node
 * (`node <bundle>/index.mjs <archive.tar.gz> <runId>`; `node --import tsx bench/stage-one.ts …`
 * works too, with tsx's loader in every import), with AWS_ENDPOINT_URL_S3 (+ S3RVER credentials)
 * pointing at the local S3. Runs the Stage step's own `stagePlugin` (validate, hash, normalize,
 * PutObject) with a resolver that streams the archive file, and prints one JSON line: elapsed ms
 * (staging only, not process start-up), phase marks, and the process's peak RSS (VmHWM; see
 * `peakRssKiB`).
 */
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createS3Client } from '../lambdas/shared/aws.js';
import { loadConfig } from '../lambdas/shared/config.js';
import type { Resolver, Resolvers } from '../lambdas/plugins/source.js';
import { stagePlugin } from '../lambdas/staging/stage-plugin.js';

const [archive, runId = 'run'] = process.argv.slice(2);
if (!archive) throw new Error('usage: stage-one.ts <archive.tar.gz> [runId]');

const config = loadConfig();
const s3 = await createS3Client({ region: config.region, httpTimeoutMs: config.awsHttpTimeoutMs, s3PathStyle: config.s3PathStyle });

/** `bench://<name>` streams the archive file, like `local://` streams the registry object. */
// Phase marks: the source fully read (validate + spool done), the upload starting (sort, hash and pack done), the upload done.
const marks = { sourceReadMs: Number.NaN, uploadStartMs: Number.NaN, uploadEndMs: Number.NaN };
let started = 0;
const fileResolver: Resolver = {
  validate: () => ({}),
  fetch: async () => {
    const body = createReadStream(archive);
    body.once('end', () => (marks.sourceReadMs = performance.now() - started));
    return { body, stripTopLevel: false, fallbackName: basename(archive).replace(/\.tar\.gz$/, '') };
  },
};
const resolvers: Resolvers = { byScheme: new Map([['bench', fileResolver]]), schemes: () => ['bench'], resolverFor: () => fileResolver };

/**
 * Peak RSS of this process in KiB: VmHWM, the high-water mark of this program's own memory. Not
 * `resourceUsage().maxRSS`: on Linux that also counts the RSS the forked child had before exec,
 * i.e. a copy of the parent's (the benchmark's) memory.
 */
function peakRssKiB(): number {
  try {
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (match) return Number(match[1]);
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS;
}

const before = process.resourceUsage();
const rssBeforeKiB = peakRssKiB();
// Which kind of memory peaks (JS heap vs Buffers outside it), sampled while staging runs.
const peak = { heapUsed: 0, external: 0, arrayBuffers: 0, rss: 0 };
const sample = () => {
  const m = process.memoryUsage();
  for (const k of Object.keys(peak) as Array<keyof typeof peak>) peak[k] = Math.max(peak[k], m[k]);
};
const sampler = setInterval(sample, 20);
/** The same client, with the PutObject timed. */
const timedS3 = {
  send: async (command: Parameters<S3Client['send']>[0]) => {
    marks.uploadStartMs = performance.now() - started;
    try {
      return await s3.send(command);
    } finally {
      marks.uploadEndMs = performance.now() - started;
    }
  },
} as unknown as S3Client;
const stageOnce = (id: string) =>
  stagePlugin(
    { s3: timedS3, resolvers, config: { stagingBucket: config.stagingBucket, limits: config.limits } },
    { source: `bench://${basename(archive)}`, expectedSha256: null, id },
  );
// CLOCK_MONOTONIC in µs, the clock of V8's CPU profile timestamps: lets a profile be cut to each call.
const monoUs = () => Number(process.hrtime.bigint() / 1000n);
const windows = { cold: [0, 0], warm: [0, 0] };
windows.cold[0] = monoUs();
started = performance.now();
const { staged } = await stageOnce(runId);
const ms = performance.now() - started;
windows.cold[1] = monoUs();
const coldPhases = { ...marks };
// The same staging again in the same process: a warm Lambda container (code compiled, clients connected).
windows.warm[0] = monoUs();
started = performance.now();
await stageOnce(`${runId}-warm`);
const warmMs = performance.now() - started;
windows.warm[1] = monoUs();
const warmPhases = { ...marks };
clearInterval(sampler);
sample();
const usage = process.resourceUsage();
// The staged object's gzip header says how hard it was compressed (XFL: 4 = fastest, 2 = best, 0 = other levels).
const head = await s3.send(new GetObjectCommand({ Bucket: config.stagingBucket, Key: staged.key, Range: 'bytes=0-9' }));
const header = Buffer.from((await head.Body?.transformToByteArray()) ?? []);
const stagedBytes = Number(head.ContentRange?.split('/')[1] ?? Number.NaN);
s3.destroy();
process.stdout.write(
  `${JSON.stringify({
    ms,
    warmMs,
    maxRssKiB: peakRssKiB(),
    rssBeforeKiB,
    cpuUserMs: (usage.userCPUTime - before.userCPUTime) / 1000,
    cpuSystemMs: (usage.systemCPUTime - before.systemCPUTime) / 1000,
    peakMemory: peak,
    phases: coldPhases,
    warmPhases,
    archiveBytes: statSync(archive).size,
    bytes: staged.bytes,
    fileCount: staged.fileCount,
    sha256: staged.sha256,
    key: staged.key,
    stagedBytes,
    gzipXfl: header[8] ?? null,
    profileWindowsUs: windows,
  })}\n`,
);
