import { createReadStream, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname } from 'node:path';
import { isGenbatchError } from '../errors/genbatch-error.js';
import { openState, type JobState } from '../library/open-state.js';
import { replacedFile } from '../library/replaced-outputs.js';
import { runJob } from '../library/run-job.js';
import { collectReview } from './review-data.js';
import { REVIEW_APP_CSS, REVIEW_APP_HTML, REVIEW_APP_JS } from './review-app.js';

export interface ReviewServerOptions {
  port?: number;
  /** Regenerate against the in-process emulator (as `run --emulator`). */
  emulator?: boolean;
}

/** Where "Regenerate rejected" stands: the page polls it. */
export interface RegenerateProgress {
  state: 'idle' | 'running' | 'finished' | 'error';
  total: number;
  done: number;
  failed: number;
  message?: string;
}

export interface ReviewServer {
  url: string;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
  '.avif': 'image/avif',
  '.gif': 'image/gif',
  '.mp4': 'video/mp4',
  '.webm': 'video/webm',
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
};

function send(res: ServerResponse, status: number, body: string | object, type = 'application/json; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  let text = '';
  for await (const chunk of req) {
    text += (chunk as Buffer).toString();
    if (text.length > 64_000) throw new Error('request body too large');
  }
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}

/**
 * `genbatch review JOB --serve`: the gallery as a small web app on 127.0.0.1. A reviewer approves or
 * rejects items (with a note), each written to the state file at once, and "Regenerate rejected"
 * runs them again in this process (the library's runJob), with progress the page polls.
 * Changes need a JSON POST with the `x-genbatch-review` header, which a page of another origin
 * cannot send without the browser asking this server first (it does not answer such requests).
 */
export async function serveReview(jobFile: string, options: ReviewServerOptions = {}): Promise<ReviewServer> {
  const state: JobState = await openState(jobFile);
  const job = state.job;
  let progress: RegenerateProgress = { state: 'idle', total: 0, done: 0, failed: 0 };
  let regeneration: Promise<unknown> | undefined;
  const controller = new AbortController();

  const items = async (): Promise<object> => {
    const data = await collectReview(job, state.store, { thumbnails: false });
    const approved = new Set(state.approvedIds());
    return {
      job: data.job,
      status: data.status,
      progress,
      items: data.items.map((item) => ({
        id: item.id,
        state: item.state,
        rejected: item.rejected,
        approved: approved.has(item.id),
        // Regenerated since its rejection: before and after are shown side by side until the reviewer chooses.
        comparing: item.steps.some((s) => s.replaced !== undefined),
        note: item.steps.find((s) => s.rejected)?.rejected?.note ?? null,
        failedChecks: item.failedChecks,
        costUsd: item.costUsd,
        altText: item.altText ?? null,
        line: item.line,
        values: item.values,
        steps: item.steps.map((s) => ({
          name: s.name,
          task: s.task,
          model: s.model,
          state: s.state,
          costUsd: s.costUsd,
          fields: s.fields,
          text: s.text ?? null,
          error: s.error ?? null,
          // The prompt as the job renders it for this item, as the static page shows it.
          prompt: s.prompt ?? null,
          promptProblem: s.promptProblem ?? null,
          promptChanged: s.promptChanged,
          checks: s.checks ?? null,
          checkOutcome: s.checkOutcome ?? null,
          // Outputs replaced after failed checks, oldest first: the "before"s of the output now.
          checkAttempts: (s.checkAttempts ?? []).map((a) => ({
            attempt: a.attempt,
            fields: a.fields,
            text: a.text ?? null,
            checks: a.checks,
            outputs: a.outputs.map((o) => ({ path: o.path, kind: o.kind, url: `/files/${encodeURIComponent(o.path)}` })),
          })),
          before: s.replaced
            ? {
                fields: s.replaced.fields,
                text: s.replaced.text ?? null,
                outputs: s.replaced.outputs.map((o) => ({
                  path: o.path,
                  kind: o.kind,
                  url: `/replaced/${encodeURIComponent(item.id)}/${encodeURIComponent(s.name)}/${encodeURIComponent(o.path)}`,
                })),
              }
            : null,
          outputs: s.outputs.map((o) => ({
            path: o.path,
            kind: o.kind,
            // The file's mtime in the URL: a regenerated image under the same name is fetched anew.
            url: `/files/${encodeURIComponent(o.path)}?v=${Math.round(statSync(o.absolute, { throwIfNoEntry: false })?.mtimeMs ?? 0)}`,
          })),
        })),
      })),
    };
  };

  const regenerate = (): RegenerateProgress => {
    if (progress.state === 'running') return progress;
    const reset = state.retryRejected();
    // What the run will do, in steps as `done` counts: every step left to do (the ones just put back, and any other)
    // of items that no failed or filtered step blocks.
    const rows = state.store.allItemSteps();
    const blocked = new Set(rows.flatMap((r) => (r.state === 'failed' || r.state === 'filtered' ? [r.itemId] : [])));
    const total = rows.filter((r) => (r.state === 'pending' || r.state === 'running') && !blocked.has(r.itemId)).length;
    progress = { state: 'running', total, done: 0, failed: 0, message: `${reset} step(s) put back to pending` };
    const run = runJob(jobFile, { emulator: options.emulator ?? false, signal: controller.signal });
    run.on('step:done', () => (progress.done += 1));
    run.on('step:failed', () => (progress.failed += 1));
    run.on('step:filtered', () => (progress.failed += 1));
    regeneration = run.then(
      (summary) => {
        progress = { ...progress, state: 'finished', message: `${summary.outcome} (exit ${summary.exitCode}): spent $${summary.spentUsd.toFixed(4)}` };
      },
      (error: unknown) => {
        progress = { ...progress, state: 'error', message: error instanceof Error ? error.message : String(error) };
      },
    );
    return progress;
  };

  const files = new Map<string, string>();
  const fileFor = async (path: string): Promise<string | undefined> => {
    if (!files.has(path)) {
      const data = await collectReview(job, state.store, { thumbnails: false });
      for (const item of data.items)
        for (const step of item.steps) {
          for (const o of step.outputs) files.set(o.path, o.absolute);
          for (const a of step.checkAttempts ?? []) for (const o of a.outputs) files.set(o.path, o.absolute);
        }
    }
    return files.get(path);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    // A page of another site that renamed its host to 127.0.0.1 (DNS rebinding) still sends its own Host: refused.
    const port = (server.address() as AddressInfo).port;
    if (req.headers.host !== `127.0.0.1:${port}` && req.headers.host !== `localhost:${port}`) return send(res, 421, { error: 'wrong host' });
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (req.method === 'GET') {
      if (url.pathname === '/') return send(res, 200, REVIEW_APP_HTML(job.name), 'text/html; charset=utf-8');
      if (url.pathname === '/app.js') return send(res, 200, REVIEW_APP_JS, 'text/javascript; charset=utf-8');
      if (url.pathname === '/app.css') return send(res, 200, REVIEW_APP_CSS, 'text/css; charset=utf-8');
      if (url.pathname === '/favicon.ico') return void res.writeHead(204).end();
      if (url.pathname === '/api/items') return send(res, 200, await items());
      if (url.pathname === '/api/progress') return send(res, 200, progress);
      const kept = /^\/replaced\/([^/]+)\/([^/]+)\/(.+)$/.exec(url.pathname);
      if (kept) {
        // A copy of an output a regenerate replaced: only those the state lists, under the job's `.replaced` folder.
        const [itemId, step, path] = [kept[1], kept[2], kept[3]].map((part) => decodeURIComponent(part ?? ''));
        const row = state.replacedOutputs().find((r) => r.itemId === itemId && r.step === step);
        const file = row && path !== undefined ? replacedFile(job, row, path) : undefined;
        if (!file) return send(res, 404, { error: 'no such replaced output' });
        res.writeHead(200, { 'content-type': TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream', 'cache-control': 'no-cache' });
        createReadStream(file).pipe(res);
        return;
      }
      if (url.pathname.startsWith('/files/')) {
        // Only files the state lists as outputs (inside the output folder) are served.
        const file = await fileFor(decodeURIComponent(url.pathname.slice('/files/'.length)));
        if (!file || !statSync(file, { throwIfNoEntry: false })?.isFile()) return send(res, 404, { error: 'no such output' });
        res.writeHead(200, { 'content-type': TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream', 'cache-control': 'no-cache' });
        createReadStream(file).pipe(res);
        return;
      }
      return send(res, 404, { error: 'not found' });
    }
    if (req.method !== 'POST' || req.headers['x-genbatch-review'] !== '1') return send(res, 403, { error: 'forbidden' });
    const body = await readJson(req);
    const action = /^\/api\/items\/(.+)\/(approve|reject|keep-old)$/.exec(url.pathname);
    if (action) {
      const id = decodeURIComponent(action[1] ?? '');
      const comparing = state.replacedOutputs().some((r) => r.itemId === id);
      // Approve keeps the regenerated output; reject (or keep-old) of a regenerated item puts the old one back.
      if (action[2] === 'approve') state.approve([id]);
      else if (action[2] === 'keep-old' || comparing) state.keepOld([id]);
      else state.reject([id], typeof body.note === 'string' ? { note: body.note } : {});
      return send(res, 200, { ok: true, rejected: state.rejectedIds(), approved: state.approvedIds() });
    }
    if (url.pathname === '/api/regenerate') return send(res, 202, regenerate());
    return send(res, 404, { error: 'not found' });
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      const status = isGenbatchError(error) && error.exitCode === 2 ? 400 : 500;
      if (!res.headersSent)
        send(res, status, { error: error instanceof Error ? error.message : String(error), hint: isGenbatchError(error) ? error.hint : undefined });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${address.port}/`,
    close: async () => {
      controller.abort();
      await regeneration;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      state.close();
    },
  };
}
