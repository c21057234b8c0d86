/**
 * What a test file left running: the resources keeping the event loop alive at its end that were not there at its
 * start. Used by test/setup/leaks.ts after every test file; pure so that test/setup/leak-check.test.ts can show it fails.
 */

/**
 * The kinds of `process.getActiveResourcesInfo()` entry that mean something was left running. Only resources that
 * keep the event loop alive are listed there: an `unref()`ed server or timer is not, and is not a leak here either.
 * Requests in flight (FSReqCallback, ConnectWrap, WriteWrap, CloseReq, GetAddrInfoReqWrap, ...) and Immediates are
 * not watched: they finish by themselves.
 */
export const WATCHED_RESOURCES: Readonly<Record<string, string>> = {
  TCPServerWrap: 'a listening TCP server (an emulator, a metrics endpoint, a webhook receiver)',
  PipeServerWrap: 'a listening Unix socket or named pipe server',
  TCPSocketWrap: 'an open TCP socket (a keep-alive client connection, or a server connection not closed)',
  TCPWrap: 'an open TCP socket',
  PipeWrap: "an open pipe (often a child process's stdin/stdout/stderr)",
  UDPWrap: 'an open UDP socket',
  ProcessWrap: 'a child process still running (a spawned CLI, a browser)',
  Timeout: 'a pending setTimeout or setInterval (a heartbeat, a poller, a watcher; clear it or unref() it)',
  FSEventWrap: 'an fs.watch() watcher not closed',
  StatWatcher: 'an fs.watchFile() watcher not removed',
};

export interface Leak {
  /** The entry of `process.getActiveResourcesInfo()`, e.g. `TCPServerWrap`. */
  resource: string;
  /** How many more there are at the end than at the start. */
  count: number;
}

function tally(resources: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of resources) counts.set(r, (counts.get(r) ?? 0) + 1);
  return counts;
}

/** The watched resources that `after` has more of than `before`, in the order of WATCHED_RESOURCES. */
export function findLeaks(before: readonly string[], after: readonly string[], watched: readonly string[] = Object.keys(WATCHED_RESOURCES)): Leak[] {
  const start = tally(before);
  const end = tally(after);
  const leaks: Leak[] = [];
  for (const resource of watched) {
    const count = (end.get(resource) ?? 0) - (start.get(resource) ?? 0);
    if (count > 0) leaks.push({ resource, count });
  }
  return leaks;
}

/** Polls `snapshot` until it shows no leak against `before`, or `waitMs` has passed; returns the leaks of the last look. */
export async function settleLeaks(before: readonly string[], snapshot: () => readonly string[], waitMs: number, stepMs = 25): Promise<Leak[]> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const leaks = findLeaks(before, snapshot());
    if (leaks.length === 0 || Date.now() >= deadline) return leaks;
    await new Promise<void>((resolve) => setTimeout(resolve, stepMs).unref());
  }
}

/** One line about a live handle, for the handles Node lets us see (servers, sockets, child processes, watchers). */
export function describeHandle(handle: unknown): string | undefined {
  if (typeof handle !== 'object' || handle === null) return undefined;
  const h = handle as Record<string, unknown>;
  const kind = (handle as { constructor?: { name?: string } }).constructor?.name ?? 'handle';
  if (typeof h.listening === 'boolean' && typeof h.address === 'function') {
    if (!h.listening) return undefined;
    const address = (h.address as () => unknown).call(handle);
    const where =
      typeof address === 'string'
        ? address
        : address && typeof address === 'object'
          ? `${(address as { address?: string }).address}:${(address as { port?: number }).port}`
          : '?';
    return `${kind} listening on ${where}`;
  }
  if (typeof h.pid === 'number' && Array.isArray(h.spawnargs)) {
    return `child process ${h.pid}: ${(h.spawnargs as string[]).join(' ').slice(0, 200)}`;
  }
  if (typeof h.remotePort === 'number' || typeof h.localPort === 'number') {
    return `socket ${String(h.localAddress)}:${String(h.localPort)} -> ${String(h.remoteAddress)}:${String(h.remotePort)}`;
  }
  if (kind === 'FSWatcher' || kind === 'StatWatcher') return kind;
  return undefined;
}

/** The message a test file fails with. */
export function leakMessage(leaks: readonly Leak[], details: readonly string[], waitedMs: number): string {
  const lines = leaks.map((l) => `  ${l.resource} ×${l.count}: ${WATCHED_RESOURCES[l.resource] ?? 'unknown resource'}`);
  const extra = details.length > 0 ? ['Handles opened by this file and still open:', ...details.map((d) => `  ${d}`)] : [];
  return [
    `This test file left resources running ${waitedMs} ms after its last test (compared with its start):`,
    ...lines,
    ...extra,
    'Close every engine, emulator, server, child process, watcher and timer the file starts (afterEach/afterAll, or try/finally).',
  ].join('\n');
}
