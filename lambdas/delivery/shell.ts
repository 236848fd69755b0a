/**
 * POSIX single-quote quoting. Inside single quotes the shell interprets nothing, so the only
 * character to handle is the quote itself: close the quote, emit an escaped quote, reopen.
 * Every user-influenced value that goes into a host script passes through here.
 */
export function shellQuote(value: string): string {
  // A shell word cannot hold NUL; refusing it beats silently truncating at it.
  if (value.includes('\0')) throw new Error('cannot quote a string containing NUL');
  return `'${value.replaceAll("'", `'\\''`)}'`;
}
