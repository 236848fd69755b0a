/**
 * ISO-8601 durations as used by `uninstallAfter` (`P7D`, `PT12H`, `P1DT30M`, `P2W`), in
 * milliseconds. Years and months are rejected: their length depends on the calendar.
 */
export function parseIsoDuration(text: string): number | null {
  const week = /^P(\d+)W$/.exec(text);
  if (week) return Number(week[1]) * 7 * 86_400_000;
  const match = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(text);
  if (!match || text === 'P' || text.endsWith('T')) return null;
  const [, d, h, m, s] = match;
  const ms = (Number(d ?? 0) * 86_400 + Number(h ?? 0) * 3_600 + Number(m ?? 0) * 60 + Number(s ?? 0)) * 1000;
  return ms > 0 ? ms : null;
}
