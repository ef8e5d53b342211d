import { describe, expect, it } from 'vitest';
import { waitFor } from './wait.js';

describe('waitFor', () => {
  it('resolves once the condition holds, sync or async', async () => {
    let n = 0;
    await waitFor(() => ++n >= 3, { intervalMs: 1 });
    expect(n).toBe(3);
    let m = 0;
    await waitFor(async () => ++m >= 2, { intervalMs: 1 });
    expect(m).toBe(2);
  });

  it('times out with the message and the last error as cause', async () => {
    const failing = waitFor(
      () => {
        throw new Error('not yet');
      },
      { timeoutMs: 30, intervalMs: 5, message: 'the thing' },
    );
    await expect(failing).rejects.toThrow('waitFor timed out after 30 ms: the thing');
    await expect(failing).rejects.toHaveProperty('cause.message', 'not yet');
    await expect(waitFor(() => false, { timeoutMs: 20 })).rejects.toThrow(/timed out/);
  });
});
