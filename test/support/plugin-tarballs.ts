import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';

/** A normalized plugin tarball, as Stage writes it: directories and regular files, no owners. */
export async function pluginTarball(files: Record<string, string>): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    pack.on('data', (chunk) => chunks.push(chunk as Buffer));
    pack.on('end', () => resolve());
    pack.on('error', reject);
  });
  const dirs = new Set<string>();
  for (const [path, content] of Object.entries(files).sort(([a], [b]) => (a < b ? -1 : 1))) {
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (!dirs.has(dir)) {
        dirs.add(dir);
        pack.entry({ name: `${dir}/`, type: 'directory', mode: 0o755 });
      }
    }
    pack.entry({ name: path, mode: 0o644 }, content);
  }
  pack.finalize();
  await done;
  return gzipSync(Buffer.concat(chunks));
}

/** Stands in for presigned S3 URLs: serves whatever bodies the test puts at a path, 404 otherwise. */
export class TarballServer {
  readonly bodies = new Map<string, Buffer>();
  private server: Server | undefined;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      const body = this.bodies.get(path);
      if (!body) {
        res.writeHead(404).end('not found');
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/gzip', 'Content-Length': body.length }).end(body);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** A URL for `path` with a presigned-looking query string. */
  put(path: string, body: Buffer): string {
    this.bodies.set(path, body);
    return `${this.url}${path}?X-Amz-Signature=not-a-secret`;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
