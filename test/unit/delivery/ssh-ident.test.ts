import { Duplex } from 'node:stream';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { wholeIdentLine } from '../../../lambdas/delivery/ssh-ident.js';

/** A stream standing in for the tunnel: `arrive` is what the server sends, `written` what the client wrote. */
function tunnel() {
  const written: string[] = [];
  let ended = false;
  const inner = new Duplex({
    read() {},
    write(chunk: Buffer, _encoding, callback) {
      written.push(chunk.toString('latin1'));
      callback();
    },
    final(callback) {
      ended = true;
      callback();
    },
  });
  const arrive = (...chunks: string[]) => {
    for (const chunk of chunks) inner.push(Buffer.from(chunk, 'latin1'));
  };
  return { inner, written, ended: () => ended, arrive };
}

/** The chunks a reader of the wrapper gets, one string per chunk. */
function reader(stream: Duplex) {
  const chunks: string[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk.toString('latin1')));
  return chunks;
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('wholeIdentLine', () => {
  it('passes the identification line on in one chunk, with the lines the server sent before it', async () => {
    const t = tunnel();
    const chunks = reader(wholeIdentLine(t.inner));

    t.arrive('Welcome\r\n', 'SS', 'H-2.0-Open', 'SSH_9.6\r');
    await turn();
    expect(chunks).toEqual([]);
    t.arrive('\n\x00\x00\x01\x0c');
    await turn();

    expect(chunks).toEqual(['Welcome\r\nSSH-2.0-OpenSSH_9.6\r\n\x00\x00\x01\x0c']);
  });

  it('passes everything after it through unchanged, chunk by chunk', async () => {
    const t = tunnel();
    const chunks = reader(wholeIdentLine(t.inner));

    t.arrive('SSH-2.0-x\r\n', '\r\x00', 'SSH-', '\n');
    await turn();

    expect(chunks).toEqual(['SSH-2.0-x\r\n', '\r\x00', 'SSH-', '\n']);
  });

  it('stops waiting for the line after limitBytes and passes on what it held', async () => {
    const t = tunnel();
    const chunks = reader(wholeIdentLine(t.inner, 16));

    t.arrive('0123456789', '0123456789', 'more');
    await turn();

    expect(chunks).toEqual(['01234567890123456789', 'more']);
  });

  it('passes on what it held when the stream ends before the line is complete', async () => {
    const t = tunnel();
    const stream = wholeIdentLine(t.inner);
    const chunks = reader(stream);

    t.arrive('SSH-2.0');
    t.inner.push(null);
    await once(stream, 'end');

    expect(chunks).toEqual(['SSH-2.0']);
  });

  it('stops reading the stream underneath while its own reader does not read', async () => {
    const t = tunnel();
    const stream = wholeIdentLine(t.inner);

    t.arrive('SSH-2.0-x\r\n', 'x'.repeat(64 * 1024));
    await turn();
    expect(t.inner.isPaused()).toBe(true);

    const chunks = reader(stream);
    await turn();
    expect(t.inner.isPaused()).toBe(false);
    expect(chunks.join('')).toHaveLength(11 + 64 * 1024);
  });

  it('writes and ends the stream underneath', async () => {
    const t = tunnel();
    const stream = wholeIdentLine(t.inner);

    stream.write('SSH-2.0-client\r\n');
    stream.end('bye');
    await once(stream, 'finish');

    expect(t.written).toEqual(['SSH-2.0-client\r\n', 'bye']);
    expect(t.ended()).toBe(true);
  });

  it('fails and closes with the stream underneath', async () => {
    const t = tunnel();
    const stream = wholeIdentLine(t.inner);
    const failed = once(stream, 'error');
    // events.once would reject on the 'error' that comes first.
    const closed = new Promise((resolve) => stream.once('close', resolve));

    t.inner.destroy(new Error('the tunnel was cut'));

    await expect(failed).resolves.toEqual([expect.objectContaining({ message: 'the tunnel was cut' })]);
    await closed;
  });

  it('closes with the stream underneath, and closes it when destroyed', async () => {
    const closedWith = tunnel();
    const closed = once(wholeIdentLine(closedWith.inner), 'close');
    closedWith.inner.destroy();
    await closed;

    const destroyed = tunnel();
    const innerClosed = once(destroyed.inner, 'close');
    wholeIdentLine(destroyed.inner).destroy();
    await innerClosed;
  });
});
