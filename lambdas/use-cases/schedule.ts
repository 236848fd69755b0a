import { InvalidRequest } from '../shared/errors.js';

/** How far ahead an uninstall may be scheduled, by `uninstallAfter` or `DELETE ?at=`. */
export const MAX_SCHEDULE_YEARS = 100;

/** Refuses a schedule further ahead than anyone means (and than the database's dates reach). */
export function withinScheduleLimit(when: Date | null, now: Date, what: string): Date {
  const limit = new Date(now.getTime());
  limit.setUTCFullYear(limit.getUTCFullYear() + MAX_SCHEDULE_YEARS);
  if (!when || when.getTime() > limit.getTime()) throw new InvalidRequest(`${what} must be at most ${MAX_SCHEDULE_YEARS} years ahead`);
  return when;
}
