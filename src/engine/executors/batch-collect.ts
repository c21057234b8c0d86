import type { BatchJob } from '@google/genai';
import type { ProjectCredentials } from '../../credentials/credentials.js';
import { BatchStepStoppedError } from '../../errors/batch-step-stopped-error.js';
import { ProviderError } from '../../errors/provider-errors.js';
import { batchResultOf } from '../../providers/gemini-batch.js';
import { emptyUsage, type ProviderResult, type Usage } from '../../providers/provider.js';
import { classifyError } from '../../resilience/classify-error.js';
import type { Settled } from './step-executor.js';
import { callEnded, callRecord } from './call-record.js';
import { BatchLineMatcher, itemLabel } from './batch-matching.js';
import { steadyNow } from '../../resilience/steady-clock.js';
import {
  TERMINAL,
  UNFINISHED_REASON,
  lineUsage,
  answeredEarlier,
  successfulCount,
  statusCode,
  replyOf,
  type Member,
  type Tracked,
  type UnmatchedLine,
} from './batch-job.js';
import { BatchBook, type LineSettlement } from './batch-book.js';

/** One line of a batch job's output, as Vertex writes it. */
type OutputLine = { key?: unknown; request?: unknown; response?: unknown; status?: unknown };

/** A line parsed, or undefined when it is not a JSON object. */
function parseLine(text: string): OutputLine | undefined {
  try {
    const line = JSON.parse(text) as unknown;
    return line !== null && typeof line === 'object' && !Array.isArray(line) ? (line as OutputLine) : undefined;
  } catch {
    return undefined;
  }
}

/** A line's member's budget hold settled from what the line cost; its unit's verdict. */
function settledLine(member: Member, line: LineSettlement): Settled {
  member.hold?.settle(line.spentUsd);
  return line.settled;
}

/** What reading a job's output came to. */
interface OutputRead {
  settled: Settled[];
  unmatched: UnmatchedLine[];
  /** Lines that are not a JSON object (1-based, in the order read). */
  damaged: number[];
  ok: number;
  failed: number;
  /** Lines read that carry a response: what Vertex billed that this collection can account for. */
  billedRead: number;
}

/** How a job's items without a line were settled, and what the job's row records of it. */
interface Closing {
  settled: Settled[];
  mismatch: boolean;
  missing: number;
  billedUnread: number;
  note: string | null;
  requeued: number;
}

/** Polls the batch jobs a run follows, and collects each one that ended: its output read line by line and settled. */
export abstract class BatchCollector extends BatchBook {
  protected async poll(t: Tracked): Promise<void> {
    const client = this.ctx.pool.clientFor(t.project);
    const pollMs = this.ctx.job.batch?.pollMs ?? 30_000;
    if (!client || !t.name) {
      t.nextAt = steadyNow() + pollMs;
      return;
    }
    let remote: BatchJob;
    try {
      remote = await this.service.get(client, t.name);
    } catch (raw) {
      const error = classifyError(raw);
      t.polls += 1;
      t.nextAt = steadyNow() + pollMs;
      if (error instanceof ProviderError && error.httpStatus === 404) {
        this.hand(await this.collect(t, { name: t.name, state: 'JOB_STATE_FAILED' } as BatchJob, `the batch job is gone at Vertex (${error.message})`));
      }
      return;
    }
    t.polls += 1;
    t.nextAt = steadyNow() + pollMs;
    const state = String(remote.state ?? t.state);
    const stats = remote.completionStats;
    const succeeded = Number(stats?.successfulCount ?? 0);
    const failed = Number(stats?.failedCount ?? 0);
    if (state !== t.state) {
      t.state = state;
      await this.ctx.store.commit(() => this.ctx.store.batches.update(t.id, state, succeeded, failed));
      this.ctx.emit('batch:state', { name: t.name, step: t.step.name, state, succeeded, failed });
    }
    if (TERMINAL.has(state)) this.hand(await this.collect(t, remote));
  }

  /**
   * A job ended. Each output line is matched to its item (by key, else label, else request hash;
   * never by position) and settled like an online reply; units an unfinished job (expired,
   * cancelled, failed) did not answer go back to pending; staging is deleted. Lines that match no
   * item, or items a finished job left without a line, fail those items and stop the step (see
   * settleUnmatched): nothing is resubmitted blindly.
   */
  protected async collect(t: Tracked, remote: BatchJob, reason?: string): Promise<Settled[]> {
    const project = this.project(t.project);
    const read = await this.readOutput(t, remote, project);
    if ('unread' in read) return read.unread;
    const state = String(remote.state);
    const closing = await this.settleMissing(t, remote, read, reason);
    if (project) {
      await this.service.remove(project, t.inputUri).catch(() => undefined);
      // Output that could not all be matched is kept, for a person to look at.
      if (!closing.mismatch) await this.service.remove(project, t.outputUri).catch(() => undefined);
    }
    const { store, emit } = this.ctx;
    const { ok, failed, unmatched, damaged } = read;
    const { mismatch, missing, billedUnread, note, requeued } = closing;
    await store.commit(() => {
      store.batches.settle(t.id, state, { succeeded: ok, failed }, note);
      if (mismatch) store.batches.unmatched(t.id, unmatched.length, missing, billedUnread);
    });
    this.tracked.delete(t.id);
    this.budgetBlocked = false;
    emit('batch:settled', {
      name: t.name ?? t.id,
      step: t.step.name,
      state,
      succeeded: ok,
      failed,
      requeued,
      ...(mismatch ? { unmatched: unmatched.length, missing, unreadable: billedUnread } : {}),
      ...(damaged.length > 0 ? { damaged: damaged.length } : {}),
      ...(note !== null ? { reason: note } : {}),
    });
    return [...read.settled, ...closing.settled];
  }

  /**
   * Streams the job's output and settles each line that answers an item of the job; lines that
   * answer none are kept aside (unmatched), lines that are not JSON counted (damaged). An output
   * that cannot be read leaves the job for the next run (`unread`).
   */
  private async readOutput(t: Tracked, remote: BatchJob, project: ProjectCredentials | undefined): Promise<OutputRead | { unread: Settled[] }> {
    const read: OutputRead = { settled: [], unmatched: [], damaged: [], ok: 0, failed: 0, billedRead: 0 };
    const directory = remote.outputInfo?.gcsOutputDirectory;
    if (!directory || !project) return read;
    const matcher = new BatchLineMatcher([...t.members].map(([itemId, member]) => ({ itemId, member, hash: member.hash })));
    const earlier = this.earlierUnits(t);
    const durationMs = steadyNow() - t.createdAt;
    let n = 0;
    try {
      for await (const text of this.service.outputLines(project, directory)) {
        n += 1;
        const line = parseLine(text);
        if (!line) {
          // A line cut or garbled (a file cut in half ends with one): whatever it answered cannot be read.
          read.damaged.push(n);
          continue;
        }
        const billedLine = line.response !== undefined && line.response !== null;
        if (billedLine) read.billedRead += 1;
        const found = matcher.match(line);
        if (found) read.settled.push(await this.settleLine(t, found.member, line, durationMs, read));
        else if (!(earlier.keys.size > 0 && answeredEarlier(line, earlier.keys, earlier.hashes)))
          read.unmatched.push({ line: n, why: matcher.explain(line), usage: lineUsage(line.response) });
      }
    } catch (error) {
      return { unread: [...read.settled, ...this.unread(t, error)] };
    }
    return read;
  }

  /** Items of this job an earlier run already settled (it died while collecting): their lines are not strangers. */
  private earlierUnits(t: Tracked): { keys: Set<string>; hashes: Map<string, number> } {
    const before = this.ctx.store.batches.settledUnits(t.id);
    const keys = new Set(before.flatMap((u) => [u.itemId, itemLabel(u.itemId)]));
    // Hash-only lines of those items: as many as they are, at most once each.
    const hashes = new Map<string, number>();
    for (const u of before) if (u.hash) hashes.set(u.hash, (hashes.get(u.hash) ?? 0) + 1);
    return { keys, hashes };
  }

  /** A line matched to its item: answered (a usable response) or failed (its status, or an unusable response). */
  private async settleLine(t: Tracked, member: Member, line: OutputLine, durationMs: number, read: OutputRead): Promise<Settled> {
    if (line.response === undefined || line.response === null) {
      read.failed += 1;
      const status = typeof line.status === 'string' && line.status !== '' ? line.status : 'no response';
      return settledLine(
        member,
        await this.lineFailed(t, member, 'BATCH_LINE_FAILED', `batch line failed: ${status}`, statusCode(status), undefined, durationMs),
      );
    }
    let result: ProviderResult;
    try {
      result = batchResultOf(line.response, member.request);
    } catch (raw) {
      const error = classifyError(raw);
      read.failed += 1;
      return settledLine(
        member,
        await this.lineFailed(t, member, error.code, error.message, 200, (raw as { usage?: Usage }).usage, durationMs, replyOf(error)),
      );
    }
    read.ok += 1;
    return settledLine(member, await this.lineAnswered(t, member, result, durationMs));
  }

  /**
   * The items the output left without a line. When Vertex billed lines nobody can read, or some
   * line matched no item, they fail and the step stops (settleUnmatched); else they go back to
   * pending with the reason (a job that ended early, or failed lines whose part of the output is gone).
   */
  private async settleMissing(t: Tracked, remote: BatchJob, read: OutputRead, reason: string | undefined): Promise<Closing> {
    const state = String(remote.state);
    const { unmatched, damaged, billedRead } = read;
    const missing = [...t.members.values()];
    const why = reason ?? UNFINISHED_REASON[state] ?? 'the batch job ended without answering this request';
    const unfinished = UNFINISHED_REASON[state] !== undefined || reason !== undefined;
    // What Vertex billed and no readable line accounts for (its output deleted, cut or garbled): the
    // job's own completionStats say how many lines succeeded, whatever state it ended in. Without
    // them, a finished job billed every item it left without a line, and an unfinished one none.
    const successful = successfulCount(remote);
    const billedUnread = Math.min(
      missing.length,
      successful !== undefined
        ? Math.max(0, successful - billedRead)
        : unfinished
          ? 0
          : Math.max(0, missing.length - unmatched.filter((u) => u.usage !== undefined).length),
    );
    const closing: Closing = {
      settled: [],
      mismatch: unmatched.length > 0 || billedUnread > 0,
      missing: missing.length,
      billedUnread,
      note: null,
      requeued: 0,
    };
    if (closing.mismatch) {
      const stop = await this.settleUnmatched(t, missing, unmatched, { billedUnread, damaged, successful, billedRead });
      closing.settled = stop.settled;
      closing.note = stop.error.message;
    } else if (damaged.length > 0 && missing.length === 0) {
      // Every item got a readable line and nothing billed is left unread: the damaged lines cost nothing more, but are named.
      closing.note = `${damaged.length} line(s) of the output are not JSON (line ${damaged.slice(0, 3).join(', ')}${damaged.length > 3 ? ', …' : ''}); every item got a readable line, so they were left aside`;
    } else if (missing.length > 0) {
      closing.requeued = missing.length;
      closing.note = unfinished ? why : `${why}; Vertex reports every billed line of the job as read here (completionStats), so this request was not answered`;
      for (const m of missing) t.members.delete(m.unit.item.id);
      const code = unfinished ? `BATCH_${state.replace(/^JOB_STATE_/, '')}` : 'BATCH_NO_LINE';
      closing.settled = await this.releaseMembers(t, missing, why, state === 'JOB_STATE_FAILED', code);
    }
    return closing;
  }

  /**
   * Lines that match no item, or items left without a line while Vertex billed lines nobody can
   * read. Each unmatched line is a ledger row of its own with what Vertex billed for it (its
   * usageMetadata at the batch price). The items without a line fail (not retried: their reply may
   * be among the unmatched lines, or among the billed lines whose output is gone, and a blind
   * resubmission is how 300 items once became 900 paid requests). Their cost: `billedUnread` of them
   * (the job's completionStats less the billed lines read) at their reserved worst case, the ones
   * reserved highest first, since their usage cannot be read; the rest at $0 (their cost is in the
   * unmatched lines' rows, or Vertex did not bill them). The code says which: BATCH_UNMATCHED when
   * some line matched no item, else BATCH_OUTPUT_UNREADABLE. The step then stops for this run.
   */
  protected async settleUnmatched(
    t: Tracked,
    missing: Member[],
    unmatched: UnmatchedLine[],
    read: UnreadLines,
  ): Promise<{ settled: Settled[]; error: BatchStepStoppedError }> {
    const { store, runId, emit, catalog, budget } = this.ctx;
    const lineUsd = unmatched.map((u) => (u.usage ? catalog.batchCost(t.step.model, u.usage) : 0));
    const unmatchedUsd = lineUsd.reduce((a, b) => a + b, 0);
    // Which items carry the worst case is unknown: the ones reserved highest, so the booking is never below the bill.
    const worst = new Set([...missing].sort((a, b) => b.reservedUsd - a.reservedUsd).slice(0, read.billedUnread));
    const costs = missing.map((m) => (worst.has(m) ? m.reservedUsd : 0));
    const bookedUsd = costs.reduce((a, b) => a + b, 0);
    const code = unmatched.length > 0 ? ('BATCH_UNMATCHED' as const) : ('BATCH_OUTPUT_UNREADABLE' as const);
    const error = unmatchedError(t, code, missing, unmatched, read, { unmatchedUsd, bookedUsd });
    const name = t.name ?? t.id;
    const itemMessage =
      code === 'BATCH_UNMATCHED'
        ? `no output line of batch job ${name} matched this item (${unmatched.length} line(s) matched no item); not resubmitted`
        : `batch job ${name} has no readable line for this item, and Vertex billed ${read.billedUnread} line(s) that cannot be read; not resubmitted`;
    for (const [i, m] of missing.entries()) {
      m.hold?.settle(costs[i] ?? 0);
      t.members.delete(m.unit.item.id);
    }
    // The unmatched lines' own cost counts against the budget like any call's.
    if (budget && unmatchedUsd > 0) budget.settle(budget.hold(unmatchedUsd, false), unmatchedUsd, t.project);
    const lineRows = unmatched.map((u, i) => {
      const entry = callRecord({
        runId,
        itemId: '',
        step: t.step.name,
        project: t.project,
        model: t.step.model,
        httpStatus: u.usage ? 200 : 0,
        errorCode: 'BATCH_LINE_UNMATCHED',
        usage: u.usage ?? emptyUsage(),
        costUsd: lineUsd[i] ?? 0,
        durationMs: 0,
      });
      delete entry.itemId;
      return entry;
    });
    await store.commit(() => {
      for (const entry of lineRows) store.recordCall(entry);
      for (const [i, m] of missing.entries()) {
        const entry = this.ledgerEntry(t, m, 0, emptyUsage(), costs[i] ?? 0, 0, code);
        store.finishStep(
          m.unit.item.id,
          t.step.name,
          'failed',
          { code, message: itemMessage, promptHash: m.rendered.promptHash, costUsd: costs[i] ?? 0 },
          entry,
          runId,
        );
      }
    });
    for (const [i, entry] of lineRows.entries()) emit('call:end', callEnded(entry, unmatched[i]?.usage ?? emptyUsage()));
    for (const m of missing) emit('step:failed', { itemId: m.unit.item.id, step: t.step.name, code, message: itemMessage });
    this.stopStep(error);
    return { settled: missing.map((m) => ({ unit: m.unit, verdict: { kind: 'failed' } })), error };
  }
}

/** What Vertex billed but nobody can read: the lines Vertex reports and the lines read here. */
interface UnreadLines {
  billedUnread: number;
  damaged: number[];
  successful: number | undefined;
  billedRead: number;
}

/** The error a batch step stops with when its output matches no item or cannot all be read: what happened, what was booked, what to do. */
function unmatchedError(
  t: Tracked,
  code: 'BATCH_UNMATCHED' | 'BATCH_OUTPUT_UNREADABLE',
  missing: Member[],
  unmatched: UnmatchedLine[],
  read: UnreadLines,
  booked: { unmatchedUsd: number; bookedUsd: number },
): BatchStepStoppedError {
  const { unmatchedUsd, bookedUsd } = booked;
  const name = t.name ?? t.id;
  const shown = unmatched
    .slice(0, 3)
    .map((u) => `line ${u.line}: ${u.why}`)
    .join('; ');
  const items = missing
    .slice(0, 5)
    .map((m) => `"${m.unit.item.id}"`)
    .join(', ');
  const damaged =
    read.damaged.length > 0
      ? ` (${read.damaged.length} line(s) are not JSON: line ${read.damaged.slice(0, 3).join(', ')}${read.damaged.length > 3 ? ', …' : ''})`
      : '';
  const unreadable =
    read.billedUnread > 0
      ? `Vertex billed ${read.billedUnread} line(s) whose output cannot be read${
          read.successful !== undefined ? ` (the job reports ${read.successful} successful line(s); ${read.billedRead} readable here)` : ''
        }${damaged}: the output was deleted, cut or garbled after the job ended. `
      : '';
  const lines =
    unmatched.length > 0 ? `${unmatched.length} output line(s) match no item${shown ? ` (${shown}${unmatched.length > 3 ? '; …' : ''})` : ''} and ` : '';
  return new BatchStepStoppedError(
    t.step.name,
    code,
    `Batch job ${name} (step "${t.step.name}"): ${unreadable}${lines}${missing.length} item(s) got no line${items ? ` (${items}${missing.length > 5 ? ', …' : ''})` : ''}. Those items failed with ${code} and the step stopped; nothing was resubmitted. Booked: ${
      unmatched.length > 0 ? `$${unmatchedUsd.toFixed(6)} for the unmatched lines (their own usage)` : ''
    }${unmatched.length > 0 && bookedUsd > 0 ? ', ' : ''}${bookedUsd > 0 ? `$${bookedUsd.toFixed(6)} (the reserved worst case of ${read.billedUnread} item(s)) for lines Vertex billed without a readable line` : ''}${unmatched.length === 0 && bookedUsd === 0 ? '$0' : ''}.`,
    `The job's output is kept at ${t.outputUri} for you to look at. \`genbatch retry JOB --failed\` submits the failed items again (and pays for them again); \`genbatch status JOB\` lists them.`,
  );
}
