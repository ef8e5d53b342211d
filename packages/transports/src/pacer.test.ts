import { describe, expect, it } from 'vitest';
import { SendPacer, type PacingClock } from './pacer.js';

function fakeClock(): PacingClock & { t: number; waits: number[] } {
  const c = {
    t: 1_000_000,
    waits: [] as number[],
    now: () => c.t,
    sleep: async (ms: number) => {
      c.waits.push(ms);
      c.t += ms;
    },
  };
  return c;
}

describe('SendPacer', () => {
  it('lets a burst through, then spaces sends at the rate', async () => {
    const clock = fakeClock();
    const pacer = new SendPacer(3, 3, clock);
    const waited = [];
    for (let i = 0; i < 5; i++) waited.push(await pacer.take());
    expect(waited).toEqual([0, 0, 0, 20_000, 20_000]);
  });

  it('spaces every send evenly with the default burst of 1 (150 a minute: 400 ms)', async () => {
    const clock = fakeClock();
    const pacer = new SendPacer(150, undefined, clock);
    for (let i = 0; i < 4; i++) await pacer.take();
    expect(clock.waits).toEqual([400, 400, 400]);
  });

  it('serves concurrent callers in order, one slot each', async () => {
    const clock = fakeClock();
    const pacer = new SendPacer(60, 1, clock);
    const order: number[] = [];
    await Promise.all([0, 1, 2].map((i) => pacer.take().then(() => order.push(i))));
    expect(order).toEqual([0, 1, 2]);
    expect(clock.waits).toEqual([1000, 1000]);
  });

  it('does not save up more than the burst while idle', async () => {
    const clock = fakeClock();
    const pacer = new SendPacer(60, 2, clock);
    clock.t += 3_600_000;
    expect([await pacer.take(), await pacer.take(), await pacer.take()]).toEqual([0, 0, 1000]);
  });

  it('refuses a rate that cannot work', () => {
    expect(() => new SendPacer(0)).toThrow(RangeError);
    expect(() => new SendPacer(10, 0)).toThrow(RangeError);
  });
});
