/** Small, dependency-free statistics for benchmark samples. */

/** Nearest-rank percentile (p in 0..100) of unsorted samples; NaN when there are none. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export const median = (samples: readonly number[]): number => percentile(samples, 50);

export function mean(samples: readonly number[]): number {
  return samples.length === 0 ? Number.NaN : samples.reduce((a, b) => a + b, 0) / samples.length;
}

export interface Summary {
  n: number;
  min: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

export function summarize(samples: readonly number[]): Summary {
  return {
    n: samples.length,
    min: samples.length ? Math.min(...samples) : Number.NaN,
    p50: percentile(samples, 50),
    p90: percentile(samples, 90),
    p99: percentile(samples, 99),
    max: samples.length ? Math.max(...samples) : Number.NaN,
    mean: mean(samples),
  };
}

/** Rounds for reports: 3 significant digits below 100, integers above. */
export function round(value: number, digits = 1): number {
  if (!Number.isFinite(value)) return value;
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

export const MiB = 1024 * 1024;
export const KiB = 1024;

/** `1.2 ms`, `340 ms`, `2.31 s` */
export function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return 'n/a';
  if (ms < 10) return `${ms.toFixed(2)} ms`;
  if (ms < 1000) return `${ms.toFixed(1)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}

export function fmtBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return 'n/a';
  if (Math.abs(bytes) >= MiB) return `${(bytes / MiB).toFixed(1)} MiB`;
  if (Math.abs(bytes) >= KiB) return `${(bytes / KiB).toFixed(1)} KiB`;
  return `${bytes} B`;
}

/**
 * The most spans open at once: `[start, end]` pairs (ms), an end before a start at the same instant.
 * How a rollout's peak of installs in flight is read off its operations' own timestamps.
 */
export function peakOverlap(spans: ReadonlyArray<readonly [number, number]>): number {
  const events = spans.flatMap(
    ([start, end]): Array<[number, number]> => [
      [start, 1],
      [end, -1],
    ],
  );
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let open = 0;
  let peak = 0;
  for (const [, delta] of events) {
    open += delta;
    peak = Math.max(peak, open);
  }
  return peak;
}

/** A median with the range of the samples it came from: the figure a row judges, and how far its runs spread. */
export interface Spread {
  n: number;
  median: number;
  min: number;
  max: number;
}

export function spread(samples: readonly number[]): Spread {
  return { n: samples.length, median: median(samples), min: Math.min(...samples), max: Math.max(...samples) };
}

/** `61 % (54–67 %, 5 runs)`: a spread of percentages for a row's text. */
export function fmtPctSpread(s: Spread): string {
  return `${round(s.median, 0)} % (${round(s.min, 0)}–${round(s.max, 0)} %, ${s.n} runs)`;
}
