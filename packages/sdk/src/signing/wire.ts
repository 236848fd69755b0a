import { Buffer } from 'node:buffer';

/**
 * The encodings keys, signatures and private key files are carried in: the SSH wire encoding
 * (RFC 4253 §5: `uint32` big-endian, `string` = uint32 length + bytes) inside base64. Nothing
 * here knows what the fields mean.
 */

/** A field ran past the end of its buffer, or bytes were left over: the caller says which thing was damaged. */
export class WireFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WireFormatError';
  }
}

export class WireReader {
  private offset = 0;

  constructor(private readonly bytes: Uint8Array) {}

  get remaining(): number {
    return this.bytes.length - this.offset;
  }

  raw(length: number, what: string): Buffer {
    if (length > this.remaining) throw new WireFormatError(`${what} runs past the end (${length} bytes wanted, ${this.remaining} left)`);
    const field = Buffer.from(this.bytes.buffer, this.bytes.byteOffset + this.offset, length);
    this.offset += length;
    return field;
  }

  uint32(what: string): number {
    return this.raw(4, what).readUInt32BE(0);
  }

  string(what: string): Buffer {
    return this.raw(this.uint32(`length of ${what}`), what);
  }

  /** A string that must be text: UTF-8 without NUL, as OpenSSH's `sshbuf_get_cstring` insists. */
  text(what: string): string {
    const bytes = this.string(what);
    const text = bytes.toString('utf8');
    if (bytes.includes(0) || !Buffer.from(text, 'utf8').equals(bytes)) throw new WireFormatError(`${what} is not UTF-8 text`);
    return text;
  }

  end(what: string): void {
    if (this.remaining !== 0) throw new WireFormatError(`${what} has ${this.remaining} trailing bytes`);
  }
}

export function uint32(value: number): Buffer {
  const field = Buffer.alloc(4);
  field.writeUInt32BE(value, 0);
  return field;
}

export function string(value: Uint8Array | string): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  return Buffer.concat([uint32(bytes.length), bytes]);
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Standard base64, padded, nothing else: Node's decoder skips characters it does not know, so a
 * damaged key or signature would otherwise decode to different bytes instead of failing.
 * Returns undefined for anything else.
 */
export function decodeBase64(text: string): Buffer | undefined {
  return BASE64.test(text) ? Buffer.from(text, 'base64') : undefined;
}

/** Base64 in lines of 70 characters, as OpenSSH writes its armored files (signatures, private keys). */
export function wrapBase64(bytes: Uint8Array): string {
  return (
    Buffer.from(bytes)
      .toString('base64')
      .match(/.{1,70}/g)
      ?.join('\n') ?? ''
  );
}
