import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { describeHandle, findLeaks, leakMessage, settleLeaks } from './leak-check.js';

describe('the leak check', () => {
  const base = ['PipeWrap', 'PipeWrap', 'Timeout', 'CloseReq'];

  it('finds a server left listening, by kind and count', () => {
    expect(findLeaks(base, [...base, 'TCPServerWrap'])).toEqual([{ resource: 'TCPServerWrap', count: 1 }]);
  });

  it('finds child processes, their pipes, sockets and timers, counting only what is new', () => {
    const after = [...base, 'ProcessWrap', 'PipeWrap', 'PipeWrap', 'PipeWrap', 'TCPSocketWrap', 'Timeout', 'FSEventWrap'];
    expect(findLeaks(base, after)).toEqual([
      { resource: 'TCPSocketWrap', count: 1 },
      { resource: 'PipeWrap', count: 3 },
      { resource: 'ProcessWrap', count: 1 },
      { resource: 'Timeout', count: 1 },
      { resource: 'FSEventWrap', count: 1 },
    ]);
  });

  it('passes when everything started was closed, and ignores requests in flight', () => {
    expect(findLeaks(base, base)).toEqual([]);
    expect(findLeaks(base, ['PipeWrap', 'PipeWrap', 'FSReqCallback', 'ConnectWrap', 'Immediate'])).toEqual([]);
  });

  it('waits for things that are closing, then gives up and names what is left', async () => {
    let snapshot = [...base, 'TCPServerWrap'];
    setTimeout(() => (snapshot = base), 30);
    expect(await settleLeaks(base, () => snapshot, 1_000, 5)).toEqual([]);
    expect(await settleLeaks(base, () => [...base, 'TCPServerWrap'], 50, 5)).toEqual([{ resource: 'TCPServerWrap', count: 1 }]);
    const message = leakMessage([{ resource: 'TCPServerWrap', count: 1 }], ['Server listening on 127.0.0.1:4000'], 1_000);
    expect(message).toContain('TCPServerWrap ×1: a listening TCP server');
    expect(message).toContain('Server listening on 127.0.0.1:4000');
  });

  it('sees a real server in process.getActiveResourcesInfo() until it is closed', async () => {
    const before = process.getActiveResourcesInfo();
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      expect(findLeaks(before, process.getActiveResourcesInfo())).toContainEqual({ resource: 'TCPServerWrap', count: 1 });
      expect(describeHandle(server)).toMatch(/^Server listening on 127\.0\.0\.1:\d+$/);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    expect(await settleLeaks(before, () => process.getActiveResourcesInfo(), 1_000)).toEqual([]);
  });
});
