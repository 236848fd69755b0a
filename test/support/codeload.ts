import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';

export type ArchiveBody = Buffer | (() => Readable | Promise<Buffer>);

/**
 * A stand-in for codeload.github.com on a loopback port: `GET /<owner>/<repo>/tar.gz/<ref>`
 * answers what a test registered for that repo and ref, 404 otherwise. Counts requests.
 */
export class FakeCodeload {
  private readonly archives = new Map<string, ArchiveBody>();
  readonly requests: string[] = [];
  private server?: Server;
  url = '';

  set(repo: string, ref: string, body: ArchiveBody): void {
    this.archives.set(`/${repo}/tar.gz/${ref}`, body);
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      this.requests.push(req.url ?? '');
      const body = this.archives.get(req.url ?? '');
      if (!body) {
        res.writeHead(404).end('404: Not Found');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/x-gzip' });
      if (Buffer.isBuffer(body)) {
        res.end(body);
        return;
      }
      Promise.resolve(body()).then(
        (out) => (Buffer.isBuffer(out) ? res.end(out) : out.on('error', () => res.destroy()).pipe(res)),
        () => res.destroy(),
      );
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
