import { describe, expect, it } from 'vitest';
import { parseEmulatorConfig, startEmulator } from '../../src/emulator/index.js';

const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

describe('closing the emulator', () => {
  it('ends the latency waits of calls still being answered: no timer is left behind', async () => {
    const emulator = await startEmulator(parseEmulatorConfig({ latency_ms: 60_000 }), { port: 0 });
    const url = `${emulator.url}/v1/projects/p/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent`;
    const calls = [1, 2, 3].map(() =>
      fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-goog-api-key': 'k' },
        body: JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'hi' }] }] }),
      }).catch((error: unknown) => error),
    );
    // A call is counted in `requests` in the same turn as its latency wait starts. Waiting on that (not on a
    // timer count taken before the calls) holds under load, when other timers of the process come and go.
    const deadline = Date.now() + 10_000;
    while ((emulator.stats().projects.p?.requests ?? 0) < 3 && Date.now() < deadline) await new Promise((r) => setImmediate(r));
    expect(emulator.stats().projects.p?.requests).toBe(3);
    const waiting = timers();
    expect(waiting).toBeGreaterThanOrEqual(3);
    await emulator.close();
    await Promise.all(calls);
    // The three waits are gone (the leak check of test/setup/leaks.ts then checks that nothing else is left).
    expect(timers()).toBeLessThanOrEqual(waiting - 3);
  });
});

describe('idle()', () => {
  it('resolves once the calls being answered are answered and billed, those whose client went away included', async () => {
    const emulator = await startEmulator(parseEmulatorConfig({ latency_ms: 500 }), { port: 0 });
    try {
      await emulator.idle(); // nothing being answered: at once
      const url = `${emulator.url}/v1/projects/p/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent`;
      const clients = [1, 2].map(() => new AbortController());
      const calls = clients.map((client) =>
        fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-goog-api-key': 'k' },
          body: JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'hi' }] }] }),
          signal: client.signal,
        }).catch((error: unknown) => error),
      );
      // Counted in `requests` as their latency wait starts; then the clients give up (killed, timed out).
      const deadline = Date.now() + 10_000;
      while ((emulator.stats().projects.p?.requests ?? 0) < 2 && Date.now() < deadline) await new Promise((r) => setImmediate(r));
      for (const client of clients) client.abort();
      await Promise.all(calls);
      await emulator.idle();
      // Answered and billed all the same, as Vertex bills a call whose client went away.
      expect(emulator.stats().projects.p?.ok).toBe(2);
    } finally {
      await emulator.close();
    }
  });
});
