import type { RegistryPlugin } from '../client.js';
import type { Io } from './io.js';

/** How the CLI writes a result: JSON for scripts or text for people, tables, sizes and download progress. */

export interface Printer {
  result: (value: unknown, text: string) => void;
  /** A failure's text goes to stderr; with --json the result stays on stdout for the script. */
  failure: (value: unknown, text: string) => void;
}

export function printer(io: Io, json: boolean | undefined): Printer {
  const result = (value: unknown, text: string) => io.stdout(json ? `${JSON.stringify(value, null, 2)}\n` : `${text}\n`);
  return { result, failure: (value, text) => (json ? result(value, text) : io.stderr(`${text}\n`)) };
}

/** Left-aligned columns two spaces apart; the last column is not padded. */
export function table(rows: string[][]): string {
  const widths = rows.reduce<number[]>((w, row) => row.map((cell, i) => Math.max(w[i] ?? 0, cell.length)), []);
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')).join('\n');
}

export function printPlugins(print: Printer, plugins: RegistryPlugin[]): void {
  print.result(plugins, table(plugins.map((p) => [p.name, p.version ?? '-', p.description ?? ''])) || 'no plugins');
}

/** Download progress on stderr: one redrawn line on a terminal, else a line per tenth (or per MiB when the size is unknown). */
export function progress(io: Io): (p: { bytes: number; total?: number }) => void {
  let shown = -1;
  return ({ bytes, total }) => {
    const text = `received ${kib(bytes)}${total ? ` of ${kib(total)}` : ''}`;
    if (io.isTTY) return io.stderr(`\r${text}`);
    const step = total ? Math.floor((bytes / total) * 10) : Math.floor(bytes / (1024 * 1024));
    if (step === shown) return;
    shown = step;
    io.stderr(`${text}\n`);
  };
}

function kib(bytes: number): string {
  return bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
