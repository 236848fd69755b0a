/**
 * An open-loop load generator: requests leave on a fixed schedule (the i-th at start + i / rate),
 * whether or not earlier ones have been answered, and each latency is counted from the request's
 * scheduled send time, not from when it actually left. A closed loop (or a sender that waits)
 * sends less when the server slows down and so hides the wait of the requests it did not send
 * (coordinated omission); here a late timer or a slow server both show in the latencies.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { summarize, type Summary } from './stats.js';

export interface OpenLoopResult {
  /** per answered request: from its scheduled send time to the last byte of the answer, ms */
  latencies: number[];
  /** answers by HTTP status; requests that failed without an answer are in `failed` */
  statuses: Record<number, number>;
  failed: number;
  /** how late each request left against its schedule (timer lateness of this process), ms */
  sendLag: Summary;
  /** the most requests in flight at once (each holds a connection of its own) */
  peakInFlight: number;
  /** from the first scheduled send to the last answer */
  wallMs: number;
}

/** Sends `rate × durationMs / 1000` requests at `rate` per second; `send(i)` resolves to the answer's status. */
export async function openLoop(opts: { rate: number; durationMs: number; send: (i: number) => Promise<number> }): Promise<OpenLoopResult> {
  const count = Math.round((opts.rate * opts.durationMs) / 1000);
  const interval = 1000 / opts.rate;
  const latencies: number[] = [];
  const lags: number[] = [];
  const statuses: Record<number, number> = {};
  let failed = 0;
  let inFlight = 0;
  let peakInFlight = 0;
  const answers: Array<Promise<void>> = [];
  const start = performance.now() + 5;
  for (let i = 0; i < count; i++) {
    const due = start + i * interval;
    const wait = due - performance.now();
    // A timer fires ~1 ms late at best; a request whose time has come leaves at once, so a late
    // timer makes the next ones catch up instead of shifting the schedule.
    if (wait >= 1) await sleep(wait);
    lags.push(Math.max(0, performance.now() - due));
    inFlight += 1;
    peakInFlight = Math.max(peakInFlight, inFlight);
    answers.push(
      opts.send(i).then(
        (status) => {
          latencies.push(performance.now() - due);
          statuses[status] = (statuses[status] ?? 0) + 1;
          inFlight -= 1;
        },
        () => {
          failed += 1;
          inFlight -= 1;
        },
      ),
    );
  }
  await Promise.all(answers);
  return { latencies, statuses, failed, sendLag: summarize(lags), peakInFlight, wallMs: performance.now() - start };
}
