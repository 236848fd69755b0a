/**
 * The process that starts the SSM emulator's host commands (started by `host-process.ts`
 * `startHostSpawner`). `spawn` copies the calling process's page tables, so in the stack process
 * (the engine, the steps, the emulators and the API's thread: hundreds of MiB) each command
 * blocked the event loop for 20–50 ms on this machine; this small process pays that instead. It
 * runs each command as `spawnOnHost` does, keeps the first bytes of its output as SSM does, and
 * answers with the exit. When its parent closes it, it kills what still runs and exits; when its
 * parent dies (`kill -9` of `npm start`), what runs finishes first, as a host command outlives the
 * SSM client that sent it on AWS.
 */
import type { ChildProcess } from 'node:child_process';
import { spawnOnHost, stopHostProcess, killGroup } from './host-process.js';
import type { FromSpawner, ToSpawner } from './host-process.js';

const running = new Map<number, ChildProcess>();
const send = (message: FromSpawner) => process.send?.(message);

let orphaned = false;
process.on('disconnect', () => {
  orphaned = true;
  if (running.size === 0) process.exit(0);
});

process.on('message', (message: ToSpawner) => {
  if (message.type === 'close') {
    for (const child of running.values()) if (child.pid) killGroup(child.pid, 'SIGKILL');
    process.exit(0);
  }
  if (message.type === 'stop') {
    const child = running.get(message.id);
    if (child) stopHostProcess(child);
    return;
  }
  const { type: _spawn, id, stdoutBytes, stderrBytes, ...options } = message;
  const child = spawnOnHost({ ...options, stdin: 'ignore' });
  running.set(id, child);
  const stdout = keep(child.stdout, stdoutBytes);
  const stderr = keep(child.stderr, stderrBytes);
  let error: string | undefined;
  let answered = false;
  const exit = (code: number | null) => {
    if (answered) return;
    answered = true;
    running.delete(id);
    if (orphaned) {
      if (running.size === 0) process.exit(0);
      return;
    }
    send({ type: 'exit', id, code, stdout: stdout(), stderr: stderr(), ...(error !== undefined && { error }) });
  };
  child.once('error', (err) => {
    error = err.message;
    // A command that never started has no 'close' to wait for.
    if (child.pid === undefined) exit(null);
  });
  child.once('close', exit);
});

/** The first `limit` bytes of a stream, the rest read and dropped. */
function keep(stream: NodeJS.ReadableStream | null, limit: number): () => string {
  const chunks: Buffer[] = [];
  let bytes = 0;
  stream?.on('data', (chunk: Buffer) => {
    if (bytes >= limit) return;
    chunks.push(chunk);
    bytes += chunk.length;
  });
  return () => Buffer.concat(chunks).toString('base64');
}
