/**
 * For a test that waits on `until` through a fault and a restart of `npm start`: its waits, each
 * bounded by a loaded machine's pace, add up past the default 30 s, and a test timed out while its
 * body still runs goes on acting on the stack under the next test.
 */
export const FAULT_TEST_TIMEOUT_MS = 300_000;

/**
 * Polls `probe` every 200 ms until it gives something other than undefined, at most `attempts`
 * times (two minutes by default: a loaded machine's pace, not a claim about speed), then fails
 * naming what it waited for, with `context()` (a stack's output) to diagnose it.
 */
export async function until<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  context: () => string = () => '',
  attempts = 600,
): Promise<T> {
  for (let i = 0; i < attempts; i++) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`gave up waiting for ${what}:\n${context()}`);
}
