/**
 * ISO-8601 durations as used by `uninstallAfter` (`P7D`, `PT12H`, `P1DT30M`, `P2W`, `P1M`,
 * `PT1.5H`). Years and months are calendar units, added to the date they start from (Jan 31 +
 * P1M is the last day of February); weeks and smaller are fixed lengths. A fraction is allowed
 * on the smallest unit written, except on years and months, whose length depends on the date.
 */
export interface IsoDuration {
  months: number;
  ms: number;
}

const NUMBER = String.raw`(\d+(?:[.,]\d+)?)`;
const DURATION_RE = new RegExp(`^P(?:${NUMBER}Y)?(?:${NUMBER}M)?(?:${NUMBER}W)?(?:${NUMBER}D)?(?:T(?:${NUMBER}H)?(?:${NUMBER}M)?(?:${NUMBER}S)?)?$`);
const UNIT_MS = [0, 0, 7 * 86_400_000, 86_400_000, 3_600_000, 60_000, 1_000] as const;

export function parseIsoDuration(text: string): IsoDuration | null {
  const match = DURATION_RE.exec(text);
  if (!match || text === 'P' || text.endsWith('T')) return null;
  const parts = match.slice(1);
  const written = parts.flatMap((part, i) => (part === undefined ? [] : [i]));
  const fractional = parts.flatMap((part, i) => (part !== undefined && /[.,]/.test(part) ? [i] : []));
  if (fractional.some((i) => i < 2 || i !== written.at(-1))) return null;
  const value = (i: number) => Number((parts[i] ?? '0').replace(',', '.'));
  return {
    months: value(0) * 12 + value(1),
    ms: Math.round(parts.slice(2).reduce((sum, _, k) => sum + value(k + 2) * UNIT_MS[k + 2]!, 0)),
  };
}

/** `from` plus the duration, in UTC; `null` when the result is not a representable date. */
export function addIsoDuration(from: Date, duration: IsoDuration): Date | null {
  const result = new Date(from.getTime());
  if (duration.months > 0) {
    const day = result.getUTCDate();
    result.setUTCDate(1);
    result.setUTCMonth(result.getUTCMonth() + duration.months);
    const lastDay = new Date(Date.UTC(result.getUTCFullYear(), result.getUTCMonth() + 1, 0)).getUTCDate();
    result.setUTCDate(Math.min(day, lastDay));
  }
  result.setTime(result.getTime() + duration.ms);
  return Number.isNaN(result.getTime()) ? null : result;
}
