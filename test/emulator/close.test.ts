import { describe, expect, it } from 'vitest';
import { parseEmulatorConfig, startEmulator } from '../../src/emulator/index.js';

const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

describe('closing the emulator', () => {
  it('ends the latency waits of calls still being answered: no timer is left behind', async () => {
    const before = timers();
    const emulator = await startEmulator(parseEmulatorConfig({ latency_ms: 60_000 }), { port: 0 });
    const url = `${emulator.url}/v1/projects/p/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent`;
    const calls = [1, 2, 3].map(() =>
      fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'hi' }] }] }),
      }).catch((error: unknown) => error),
    );
    // Wait until the three calls are in their latency wait.
    for (let i = 0; i < 200 && timers() < before + 3; i++) await new Promise((r) => setImmediate(r));
    expect(timers()).toBeGreaterThanOrEqual(before + 3);
    await emulator.close();
    await Promise.all(calls);
    expect(timers()).toBe(before);
  });
});
