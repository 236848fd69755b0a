/**
 * Peer (a) of the staging benchmark, one run in a fresh process, bundled and run like stage-one.ts:
 *   node <bundle>/index.mjs <archive.tar.gz> <runId>
 * node-tar (`tar` v7) does what Stage does with its own options: extract to a temp dir with
 * `strict` (its warnings, e.g. `..` paths and unsupported entry types, become errors) and a
 * `filter` refusing what SPEC §3 refuses (absolute paths, devices and other special entries,
 * more entries or bytes than the limits) and dropping links; hash every file (sha256, the SPEC
 * content hash); re-pack the tree sorted, portable (no owners), a fixed mtime, gzip level 1, to
 * a temp file; then PutObject to the same local S3 with the same client as Stage. Prints one
 * JSON line with `ms` (first call) and `warmMs` (the same again in the same process).
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { c as tarCreate, x as tarExtract } from 'tar';
import { comparePaths, contentHash } from '@molecule/plugins-sdk/contract/content-hash';
import { createS3Client } from '../lambdas/shared/aws.js';
import { loadConfig } from '../lambdas/shared/config.js';

const [archiveArg, runId = 'run'] = process.argv.slice(2);
if (!archiveArg) throw new Error('usage: peers-node-tar.ts <archive.tar.gz> [runId]');
const archive: string = archiveArg;
const config = loadConfig();
const { maxFiles, maxDirBytes, maxArchiveBytes } = config.limits;
const s3 = await createS3Client({ region: config.region, httpTimeoutMs: config.awsHttpTimeoutMs, s3PathStyle: config.s3PathStyle });

async function stageWithNodeTar(id: string): Promise<{ files: number; hash: string }> {
  const work = await mkdtemp(join(tmpdir(), 'peer-node-tar-'));
  try {
    const root = join(work, 'root');
    await mkdir(root);
    let entries = 0;
    let bytes = 0;
    let compressed = 0;
    let refused: string | undefined;
    const refuse = (why: string) => {
      refused ??= why;
      return false;
    };
    await pipeline(
      createReadStream(archive),
      new Transform({
        transform(chunk: Buffer, _e, done) {
          compressed += chunk.length;
          done(compressed > maxArchiveBytes ? new Error('archive too large') : null, chunk);
        },
      }),
      tarExtract({
        cwd: root,
        strict: true,
        preservePaths: false,
        preserveOwner: false,
        filter: (path, entry) => {
          const type = 'type' in entry ? entry.type : 'File';
          if (++entries > maxFiles) return refuse('too many entries');
          if (path.startsWith('/')) return refuse('absolute path');
          if (path.split('/').includes('..')) return refuse('.. in path');
          if (type === 'SymbolicLink' || type === 'Link') return false; // dropped, as Stage drops links
          if (type !== 'File' && type !== 'OldFile' && type !== 'ContiguousFile' && type !== 'Directory') return refuse(`${type} entry`);
          bytes += 'size' in entry ? entry.size : 0;
          if (bytes > maxDirBytes) return refuse('too large');
          return true;
        },
      }),
    );
    if (refused) throw new Error(`refused: ${refused}`);
    // Hash every regular file; list everything for the sorted re-pack (directories end in '/').
    const listed = await readdir(root, { recursive: true, withFileTypes: true });
    const names: string[] = [];
    const digests: Array<[string, string]> = [];
    for (const dirent of listed) {
      const rel = join(dirent.parentPath, dirent.name).slice(root.length + 1);
      if (dirent.isDirectory()) names.push(`${rel}/`);
      else if (dirent.isFile()) {
        names.push(rel);
        digests.push([
          rel,
          createHash('sha256')
            .update(await readFile(join(root, rel)))
            .digest('hex'),
        ]);
      }
    }
    names.sort(comparePaths);
    const hash = contentHash(digests);
    const out = join(work, 'normalized.tar.gz');
    await pipeline(tarCreate({ cwd: root, gzip: { level: 1 }, portable: true, mtime: new Date(0), noDirRecurse: true }, names), createWriteStream(out));
    const { size } = await stat(out);
    await s3.send(
      new PutObjectCommand({
        Bucket: config.stagingBucket,
        Key: `peers/node-tar/${id}.tar.gz`,
        Body: createReadStream(out),
        ContentLength: size,
        ContentType: 'application/gzip',
        Metadata: { 'plugin-sha256': hash },
      }),
    );
    return { files: digests.length, hash };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

let started = performance.now();
const first = await stageWithNodeTar(runId);
const ms = performance.now() - started;
started = performance.now();
await stageWithNodeTar(`${runId}-warm`);
const warmMs = performance.now() - started;
s3.destroy();
process.stdout.write(`${JSON.stringify({ ms, warmMs, files: first.files, sha256: first.hash })}\n`);
