import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { WorkspaceBusy } from '../shared/errors.js';
import { logger } from '../shared/logger.js';

/**
 * The per-endpoint tunnel cap: an EC2 Instance Connect Endpoint allows 20 tunnels at once, so
 * `TunnelSlots` caps them per endpoint across every step of every Lambda container (PostgreSQL,
 * lambdas/store/tunnel-slots.ts), each slot leased so that a holder that dies frees it by itself.
 * `holdTunnelSlot` waits for a free slot with backoff and jitter, then gives up with
 * `workspace_busy`, which the workflow retries.
 */

/** A shared count of open tunnels per endpoint: numbered slots below the cap, each leased to one tunnel. */
export interface TunnelSlots {
  /** A free slot's number, now leased to `holder` for `ttlMs`, or undefined when all are taken. */
  take(endpointId: string, holder: string, cap: number, ttlMs: number): Promise<number | undefined>;
  release(endpointId: string, slot: number, holder: string): Promise<void>;
}

/** Slots in this process only: for direct calls and tests; the steps share PostgreSQL's. */
export function memoryTunnelSlots(now: () => number = Date.now): TunnelSlots {
  const held = new Map<string, { holder: string; expiresAt: number }>();
  return {
    async take(endpointId, holder, cap, ttlMs) {
      for (let slot = 0; slot < cap; slot++) {
        const key = `${endpointId}\0${slot}`;
        const current = held.get(key);
        if (current && current.expiresAt > now()) continue;
        held.set(key, { holder, expiresAt: now() + ttlMs });
        return slot;
      }
      return undefined;
    },
    async release(endpointId, slot, holder) {
      const key = `${endpointId}\0${slot}`;
      if (held.get(key)?.holder === holder) held.delete(key);
    },
  };
}

export const processTunnelSlots = memoryTunnelSlots();

export interface SlotWait {
  cap: number;
  leaseMs: number;
  /** Epoch ms after which no further attempt is made. */
  waitUntil: number;
  signal?: AbortSignal;
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  random?: () => number;
}

const SLOT_BASE_DELAY_MS = 100;
const SLOT_MAX_DELAY_MS = 5_000;

/**
 * Takes a slot of the endpoint's cap, waiting for one with exponential backoff and jitter until
 * `waitUntil`; then WorkspaceBusy (`workspace_busy`, retried by the workflow). Resolves to the
 * function that gives the slot back (never throws: an unreleased lease ends by itself).
 */
export async function holdTunnelSlot(slots: TunnelSlots, endpointId: string, wait: SlotWait): Promise<{ release: () => Promise<void>; waitedMs: number }> {
  const { now = Date.now, sleep = sleepFor, random = Math.random } = wait;
  const holder = randomUUID();
  const started = now();
  for (let attempt = 0; ; attempt++) {
    const slot = await slots.take(endpointId, holder, wait.cap, wait.leaseMs);
    if (slot !== undefined) {
      const release = () =>
        slots.release(endpointId, slot, holder).catch((err: unknown) => {
          logger.warn('could not release an EC2 Instance Connect Endpoint tunnel slot; its lease ends by itself', {
            endpointId,
            slot,
            error: (err as Error).name,
          });
        });
      return { release, waitedMs: now() - started };
    }
    const remaining = wait.waitUntil - now();
    if (remaining <= 0 || wait.signal?.aborted) {
      throw new WorkspaceBusy(`all ${wait.cap} tunnels of the EC2 Instance Connect Endpoint are in use; the delivery will be retried`, {
        endpointId,
        cap: wait.cap,
        transport: 'eic-endpoint',
      });
    }
    const ceiling = Math.min(SLOT_MAX_DELAY_MS, SLOT_BASE_DELAY_MS * 2 ** Math.min(attempt, 16));
    await sleep(Math.min(remaining, ceiling * (0.5 + random() / 2)), wait.signal);
  }
}

/** Waits `ms`, or less if the step is aborted: the loop then sees the signal and gives up. */
const sleepFor = (ms: number, signal?: AbortSignal): Promise<void> => delay(ms, undefined, { signal }).catch(() => undefined);
