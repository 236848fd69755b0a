import { describe, expect, it } from 'vitest';
import { holdTunnelSlot, memoryTunnelSlots } from '../../../lambdas/delivery/eic-tunnel-slots.js';

describe('holdTunnelSlot', () => {
  it('waits with growing, jittered delays while every slot is taken, then takes the freed one', async () => {
    let now = 0;
    const slots = memoryTunnelSlots(() => now);
    await slots.take('eice-1', 'other', 1, 2_000);
    const delays: number[] = [];

    const held = await holdTunnelSlot(slots, 'eice-1', {
      cap: 1,
      leaseMs: 60_000,
      waitUntil: 60_000,
      now: () => now,
      random: () => 1,
      sleep: async (ms) => {
        delays.push(ms);
        now += ms;
      },
    });

    expect(delays).toEqual([100, 200, 400, 800, 1_600]);
    expect(held.waitedMs).toBe(3_100);
    expect(await slots.take('eice-1', 'third', 1, 1_000)).toBeUndefined();
    await held.release();
    expect(await slots.take('eice-1', 'third', 1, 1_000)).toBe(0);
  });

  it('is workspace_busy once the wait is over, having slept no longer than it had', async () => {
    let now = 0;
    const slots = memoryTunnelSlots(() => now);
    await slots.take('eice-1', 'other', 2, 600_000);
    await slots.take('eice-1', 'another', 2, 600_000);
    let slept = 0;

    const busy = holdTunnelSlot(slots, 'eice-1', {
      cap: 2,
      leaseMs: 1_000,
      waitUntil: 1_000,
      now: () => now,
      random: () => 0.5,
      sleep: async (ms) => {
        slept += ms;
        now += ms;
      },
    });

    await expect(busy).rejects.toMatchObject({ name: 'WorkspaceBusy', code: 'workspace_busy', details: { endpointId: 'eice-1', cap: 2 } });
    expect(slept).toBe(1_000);
  });
});
