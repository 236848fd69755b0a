/**
 * The staging benchmark's peers (issue #13 target 3), each run like stage-one.ts in a fresh
 * process on the same archive, ending at the same local S3:
 * (a) node-tar, bench/peers-node-tar.ts;
 * (b) Python's `tarfile` with the `data` extraction filter (PEP 706), the script below.
 * Each prints one JSON line: `ms` (first call in the process) and `warmMs` (the same again).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { bundleScript, lastJson, run } from './lib/proc.js';

export interface PeerRun {
  ms: number;
  warmMs: number;
  files: number;
  sha256: string;
}

export interface Peer {
  key: 'node-tar' | 'python';
  what: string;
  /** `env` points the run at the local S3, as stage-one's does. */
  run(archive: string, runId: string, env: NodeJS.ProcessEnv): Promise<PeerRun>;
}

/**
 * Extract with `filter='data'` (refuses absolute paths, `..`, links pointing outside, devices;
 * PEP 706), plus the SPEC limits on entries and bytes and links dropped as Stage drops them; hash
 * every file and compute the SPEC content hash (`json.dumps` of the sorted pairs); re-pack sorted,
 * owners 0 without names, mtime 0, modes 0644/0755, gzip level 1, to a temp file; PUT it to the
 * local S3 (an anonymous PUT: s3rver accepts it, and Python has no SDK here; cheaper than SigV4).
 */
const PYTHON_PEER = `
import hashlib, http.client, json, os, sys, tarfile, tempfile, time, urllib.parse

archive, run_id, endpoint, bucket, max_files, max_bytes = sys.argv[1:7]
max_files, max_bytes = int(max_files), int(max_bytes)

def stage(key):
    with tempfile.TemporaryDirectory(prefix='peer-python-') as work:
        root = os.path.join(work, 'root')
        os.mkdir(root)
        entries = total = 0
        with tarfile.open(archive, 'r:gz') as tf:
            for member in tf:
                entries += 1
                if entries > max_files:
                    raise ValueError('too many entries')
                if member.issym() or member.islnk():
                    continue
                if not (member.isfile() or member.isdir()):
                    raise ValueError('special entry ' + member.name)
                total += member.size
                if total > max_bytes:
                    raise ValueError('too large')
                tf.extract(member, root, filter='data')
        names, pairs = [], []
        for dirpath, dirnames, filenames in os.walk(root):
            rel = os.path.relpath(dirpath, root)
            for d in dirnames:
                names.append(os.path.normpath(os.path.join(rel, d)) + '/')
            for f in filenames:
                path = os.path.normpath(os.path.join(rel, f))
                names.append(path)
                with open(os.path.join(root, path), 'rb') as fh:
                    pairs.append([path, hashlib.sha256(fh.read()).hexdigest()])
        pairs.sort(key=lambda p: p[0].encode())
        content = hashlib.sha256(json.dumps([p for p in pairs if p[0] != 'plugin.yaml']).encode()).hexdigest()
        names.sort(key=lambda n: n.encode())
        out = os.path.join(work, 'normalized.tar.gz')
        def normalize(info):
            info.uid = info.gid = 0
            info.uname = info.gname = ''
            info.mtime = 0
            info.mode = 0o755 if info.isdir() or info.mode & 0o111 else 0o644
            return info
        with tarfile.open(out, 'w:gz', compresslevel=1, format=tarfile.PAX_FORMAT) as tf:
            for name in names:
                tf.add(os.path.join(root, name.rstrip('/')), arcname=name.rstrip('/'), recursive=False, filter=normalize)
        url = urllib.parse.urlparse(endpoint)
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
        with open(out, 'rb') as body:
            conn.request('PUT', '/%s/%s' % (bucket, key), body=body, headers={'Content-Length': str(os.path.getsize(out)), 'Content-Type': 'application/gzip', 'x-amz-meta-plugin-sha256': content})
        res = conn.getresponse()
        res.read()
        conn.close()
        if res.status != 200:
            raise RuntimeError('PUT answered %d' % res.status)
        return len(pairs), content

t = time.perf_counter()
files, content = stage('peers/python/%s.tar.gz' % run_id)
ms = (time.perf_counter() - t) * 1000
t = time.perf_counter()
stage('peers/python/%s-warm.tar.gz' % run_id)
warm = (time.perf_counter() - t) * 1000
print(json.dumps({'ms': ms, 'warmMs': warm, 'files': files, 'sha256': content}))
`;

/** The peers, ready to run: the node-tar script bundled like stage-one.ts, the Python script written. */
export async function peers(opts: { tmpDir: string; bucket: string; limits: { maxFiles: number; maxDirBytes: number } }): Promise<Peer[]> {
  const script = join(opts.tmpDir, 'peer-python.py');
  await writeFile(script, PYTHON_PEER);
  const nodeTar = await bundleScript('bench/peers-node-tar.ts', join(opts.tmpDir, 'bundles', 'peers-node-tar'));
  const check = (what: string, res: { code: number | null; stderr: string; stdout: string }): PeerRun => {
    if (res.code !== 0) throw new Error(`${what} failed: ${res.stderr.slice(-2000)}`);
    return lastJson<PeerRun>(res.stdout);
  };
  return [
    {
      key: 'node-tar',
      what: 'node-tar (tar v7: strict extract with a SPEC filter, hash, portable re-pack, gzip -1, PutObject)',
      run: async (archive, runId, env) => check('node-tar peer', await run(process.execPath, [nodeTar, archive, runId], { env, timeoutMs: 300_000 })),
    },
    {
      key: 'python',
      what: "Python tarfile (filter='data' extract, hash, normalized re-pack, gzip -1, PUT)",
      run: async (archive, runId, env) =>
        check(
          'python peer',
          await run(
            'python3',
            [script, archive, runId, env.AWS_ENDPOINT_URL_S3 ?? '', opts.bucket, String(opts.limits.maxFiles), String(opts.limits.maxDirBytes)],
            {
              env,
              timeoutMs: 300_000,
            },
          ),
        ),
    },
  ];
}
