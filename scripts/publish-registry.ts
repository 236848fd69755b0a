import { join, resolve } from 'node:path';
import { publishToRegistry } from '../lambdas/staging/publish-registry.js';
import { createS3Client } from '../lambdas/shared/aws.js';
import { loadConfig } from '../lambdas/shared/config.js';
import { registryDirectories } from '../local/registry.js';

/**
 * `npm run publish-registry -- [plugin dir ...]`: publishes plugin directories (default: every one
 * under ./plugins) to the curated `local://` registry at REGISTRY_BUCKET / REGISTRY_PREFIX, with
 * the credentials and endpoint the AWS SDK finds (real AWS, LocalStack, the local S3). Each goes
 * through the same staging as an install, so only valid plugins are published; one that fails is
 * reported and the command exits 1 after trying the rest. Published plugins replace same-named
 * ones; nothing else in the registry is touched.
 */
const dirs = process.argv.length > 2 ? process.argv.slice(2).map((dir) => resolve(dir)) : registryDirectories(join(process.cwd(), 'plugins'), undefined);
if (dirs.length === 0) {
  process.stderr.write('publish-registry: no plugin directories given and none under ./plugins\n');
  process.exit(2);
}

const config = loadConfig();
const s3 = await createS3Client({ region: config.region, httpTimeoutMs: config.awsHttpTimeoutMs, s3PathStyle: config.s3PathStyle });
let failed = 0;
for (const dir of dirs) {
  try {
    const { entry, warnings } = await publishToRegistry(s3, config.registryBucket, config.registryPrefix, dir, { limits: config.limits });
    process.stdout.write(`published ${entry.name} ${entry.version ?? ''} (sha256 ${entry.sha256}) to s3://${config.registryBucket}/${config.registryPrefix}\n`);
    for (const warning of warnings) process.stdout.write(`  warning: ${warning}\n`);
  } catch (err) {
    failed++;
    process.stderr.write(`publish-registry: ${dir}: ${(err as Error).message}\n`);
  }
}
s3.destroy();
process.exit(failed > 0 ? 1 : 0);
