import { Duplex } from 'node:stream';

/**
 * Hands ssh2 the server's identification line (`SSH-2.0-…\r\n`, RFC 4253 §4.2) in one chunk,
 * however the stream underneath cuts it, with any lines the server sent before it; everything
 * after it passes through as it comes. Holding back is bounded: with no such line in the first
 * `limitBytes`, what was held is passed on and the rest as it comes (ssh2 judges it from there).
 *
 * Why: ssh2 1.17.0 loses bytes when the line arrives in three or more chunks. In
 * lib/protocol/Protocol.js, parseHeader() keeps an unfinished line only `if (!this._buffer)`, so
 * it buffers the first chunk, drops the second, and reads the third as if it followed the first.
 * Fed to a client as `SSH-2.0-`, `Open`, `SSH_9.6\r\n`, the remote ident becomes `SSH-2.0-SSH_9.6`
 * (the key exchange then fails); cut elsewhere, the parser goes on into the binary KEXINIT and
 * fails with "Invalid header: expected newline", or waits until the handshake times out. A TCP
 * socket rarely cuts 22 bytes; an EC2 Instance Connect Endpoint tunnel forwards WebSocket messages
 * cut wherever the endpoint read them.
 */
export function wholeIdentLine(stream: Duplex, limitBytes = 8 * 1024): Duplex {
  return new WholeIdentLine(stream, limitBytes);
}

class WholeIdentLine extends Duplex {
  /** What came before the identification line was complete; undefined once it has been passed on. */
  private head: Buffer | undefined = Buffer.alloc(0);

  constructor(
    private readonly inner: Duplex,
    private readonly limitBytes: number,
  ) {
    super();
    inner.on('data', (chunk: Buffer) => this.receive(chunk));
    inner.on('end', () => {
      this.passHead();
      this.push(null);
    });
    inner.on('error', (err) => this.destroy(err));
    inner.on('close', () => this.destroy());
  }

  private receive(chunk: Buffer): void {
    if (!this.head) {
      if (!this.push(chunk)) this.inner.pause();
      return;
    }
    this.head = Buffer.concat([this.head, chunk]);
    if (identLineEnd(this.head) !== -1 || this.head.length >= this.limitBytes) this.passHead();
  }

  private passHead(): void {
    const head = this.head;
    this.head = undefined;
    if (head?.length && !this.push(head)) this.inner.pause();
  }

  override _read(): void {
    this.inner.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.inner.write(chunk, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.inner.end(callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.inner.destroy();
    callback(error);
  }
}

/** Just past the `\n` that ends the first line starting with `SSH-`, or -1 while there is none. */
function identLineEnd(data: Buffer): number {
  for (let start = 0; ; ) {
    const end = data.indexOf(0x0a, start);
    if (end === -1) return -1;
    if (data.toString('latin1', start, start + 4) === 'SSH-') return end + 1;
    start = end + 1;
  }
}
