/** Quotes untrusted text for a message: JSON-escaped, and cut so a huge value cannot bloat it. */
export function messageQuote(value: string, max = 200): string {
  return JSON.stringify(value.length > max ? `${value.slice(0, max)}…` : value);
}
