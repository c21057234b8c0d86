import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { once } from 'node:events';
import type { BatchJob, GoogleGenAI } from '@google/genai';
import type { ProjectCredentials } from '../../credentials/credentials.js';
import { ConfigError } from '../../errors/config-error.js';
import { QuotaExhaustedError, TransientError } from '../../errors/provider-errors.js';
import { RETRY_LATER } from '../../estimate/budget.js';
import { batchRequestOf } from '../../providers/gemini-batch.js';
import { classifyError } from '../../resilience/classify-error.js';
import { scratchDirFor } from '../paths.js';
import type { RenderedStep } from '../render-step.js';
import type { Step } from '../../job/job.js';
import type { Unit } from '../unit.js';
import type { Settled } from './step-executor.js';
import { requestHash } from './batch-matching.js';
import { steadyNow } from '../../resilience/steady-clock.js';
import { MAX_BATCH_INPUT_BYTES, CREATE_RETRY_MS, labelled, stagingError, type Member, type Tracked } from './batch-job.js';
import { BatchCollector } from './batch-collect.js';
import { BudgetHold } from '../budget-hold.js';

/** Submits chunks of gathered units as batch jobs: rendered, held against the budget, written down, staged and created. */
export abstract class BatchSubmitter extends BatchCollector {
  protected stagingFor(project: ProjectCredentials): string {
    const staging = this.ctx.job.batch?.staging ?? project.stagingBucket;
    if (!staging) {
      throw new ConfigError(`${this.ctx.job.file}: batch.staging: batch prediction needs a Cloud Storage location for its input and output files`, {
        file: this.ctx.job.file,
        keyPath: 'batch.staging',
        hint: `Set batch: { staging: gs://BUCKET/PREFIX } in the job file, or staging_bucket: gs://BUCKET on project "${project.name}" in the credentials file.`,
      });
    }
    return staging.replace(/\/+$/, '');
  }

  /** Leases a Vertex project, then renders, reserves, writes, stages and submits one chunk of a step's units. */
  protected async submit(units: Unit[]): Promise<void> {
    const { job, pool, signal } = this.ctx;
    const step = (units[0] as Unit).step;
    // Batch prediction is Vertex AI's: Gemini API keys of the pool take no batch jobs.
    const lease = await pool.acquire(step.model, step.pool ?? job.pool, signal, 0, undefined, 'vertex');
    if (!lease) {
      // Stopping, or no project can serve the model: the units stay pending for the next run.
      this.hand(units.map((unit) => ({ unit, verdict: { kind: 'released' } })));
      return;
    }
    let released = false;
    const releaseLease = (): void => {
      if (!released) lease.release();
      released = true;
    };
    try {
      const tracked = await this.stageChunk(units, lease.project);
      if (tracked) await this.create(tracked, lease.project, lease.client, releaseLease);
    } finally {
      releaseLease();
    }
  }

  /**
   * Writes the chunk's input file, records the job's intent (its row, its units running in it, their
   * ledger rows) and uploads the file. Undefined when nothing is left to submit (or staging failed).
   */
  private async stageChunk(units: Unit[], project: ProjectCredentials): Promise<Tracked | undefined> {
    const { job } = this.ctx;
    const step = (units[0] as Unit).step;
    const id = `genbatch-${job.name.toLowerCase().slice(0, 40)}-${randomUUID().slice(0, 8)}`;
    let staging: string;
    try {
      staging = this.stagingFor(project);
    } catch (error) {
      this.hand(units.map((unit) => ({ unit, verdict: { kind: 'released' } })));
      this.stopStep(stagingError(step.name, project.name, 'finding where to stage batch files', error));
      return undefined;
    }
    const scratch = scratchDirFor(job);
    await mkdir(scratch, { recursive: true });
    const localFile = join(scratch, `${id}.jsonl`);
    try {
      const members = await this.writeChunk(units, localFile);
      if (members.size === 0) return undefined;
      const base = `${staging}/genbatch/${job.name}/${id}`;
      const tracked = await this.open(id, step, project.name, base, members);
      return (await this.upload(tracked, project, localFile)) ? tracked : undefined;
    } finally {
      await rm(localFile, { force: true });
    }
  }

  /**
   * Writes the units' lines to `localFile`, each reserved against the budget at the batch price; the
   * chunk is cut at 1 GB, or where the next unit would cross the cap (the rest go back to the buffer,
   * or, when nothing held could free room, back to pending and the run stops on the budget).
   */
  private async writeChunk(units: Unit[], localFile: string): Promise<Map<string, Member>> {
    const { budget } = this.ctx;
    const step = (units[0] as Unit).step;
    const out = createWriteStream(localFile);
    const members = new Map<string, Member>();
    const settled: Settled[] = [];
    const leftover: Unit[] = [];
    let bytes = 0;
    let refusedUsd = 0;
    for (const unit of units) {
      if (leftover.length > 0) {
        leftover.push(unit);
        continue;
      }
      const line = this.lineOf(unit, settled);
      if (!line) continue;
      if (members.size > 0 && bytes + line.size > MAX_BATCH_INPUT_BYTES) {
        leftover.push(unit);
        continue;
      }
      const answer = budget ? await budget.reserve(line.member.reservedUsd) : undefined;
      const reservation = answer === RETRY_LATER ? undefined : answer;
      if (budget && !reservation) {
        // The chunk is cut where it would cross the cap (or waits while a shared budget cannot answer).
        refusedUsd = line.member.reservedUsd;
        if (answer === RETRY_LATER) this.budgetBlocked = true;
        leftover.push(unit);
        continue;
      }
      bytes += line.size;
      if (!out.write(line.text)) await once(out, 'drain');
      members.set(unit.item.id, { ...line.member, hold: reservation && new BudgetHold(this.holds, reservation, undefined) });
    }
    out.end();
    await once(out, 'close');
    if (settled.length > 0) this.hand(settled);
    if (leftover.length > 0) this.cut(step.name, leftover, refusedUsd);
    return members;
  }

  /** A unit's input line, or undefined when it cannot be rendered (it is settled as failed, into `settled`). */
  private lineOf(unit: Unit, settled: Settled[]): { text: string; size: number; member: Member } | undefined {
    const { store, runId, emit, catalog } = this.ctx;
    const { step } = unit;
    const { call, rejected } = this.ctx.online.prepare([unit]);
    settled.push(...rejected);
    if (!call) return undefined;
    try {
      // The key rides in the request's labels (Vertex echoes the request, not our other fields); `key` is kept for services that echo it.
      const request = batchRequestOf(labelled(call.request, unit.item.id));
      const text = `${JSON.stringify({ key: unit.item.id, request })}\n`;
      const rendered = (call.live[0] as { rendered: RenderedStep }).rendered;
      const reservedUsd = call.worstCaseUsd * (1 - catalog.batchDiscount);
      const member: Member = { unit, rendered, request: call.request, reservedUsd, hold: undefined, ledgerId: undefined, hash: requestHash(request) };
      return { text, size: Buffer.byteLength(text), member };
    } catch (error) {
      const code = error instanceof ConfigError ? error.code : 'BAD_REQUEST';
      store.finishStep(unit.item.id, step.name, 'failed', { code, message: (error as Error).message }, undefined, runId);
      emit('step:failed', { itemId: unit.item.id, step: step.name, code, message: (error as Error).message });
      settled.push({ unit, verdict: { kind: 'failed' } });
      return undefined;
    }
  }

  /** Units cut from a chunk go back to the front of the buffer; refused by the budget with nothing held, to pending, and the run stops. */
  private cut(step: string, leftover: Unit[], refusedUsd: number): void {
    this.buffers.get(step)?.unshift(...leftover);
    if (refusedUsd <= 0) return;
    if (this.ctx.budget?.holding) {
      this.budgetBlocked = true;
      return;
    }
    this.buffers.set(step, []);
    this.hand(leftover.map((unit) => ({ unit, verdict: { kind: 'released' } })));
    this.ctx.onBudgetRefused(refusedUsd);
  }

  /** Intent before spend: the job's row, its units running in it and their ledger rows, durable before the upload. */
  private async open(id: string, step: Step, project: string, base: string, members: Map<string, Member>): Promise<Tracked> {
    const { store, runId } = this.ctx;
    const tracked: Tracked = {
      id,
      step,
      project,
      name: undefined,
      state: 'SUBMITTING',
      inputUri: `${base}/input.jsonl`,
      outputUri: `${base}/output`,
      members,
      createdAt: steadyNow(),
      polls: 0,
      nextAt: Number.POSITIVE_INFINITY,
      busy: true,
    };
    const { inputUri, outputUri } = tracked;
    await store.commit(() => {
      store.batches.open({ id, step: step.name, project, model: step.model, inputUri, outputUri, requests: members.size });
      for (const m of members.values()) {
        store.markRunning(m.unit.item.id, step.name, runId, project);
        store.batches.assign(id, m.unit.item.id, step.name, m.hash);
        m.ledgerId = store.openCall({ runId, itemId: m.unit.item.id, step: step.name, project, model: step.model, reservedUsd: m.reservedUsd });
      }
    });
    this.tracked.set(id, tracked);
    return tracked;
  }

  /** Uploads the input file; if that fails nothing was submitted: the units go back to pending, and the step stops (other steps go on). */
  private async upload(tracked: Tracked, project: ProjectCredentials, localFile: string): Promise<boolean> {
    try {
      await this.service.upload(project, localFile, tracked.inputUri);
      return true;
    } catch (error) {
      const stop = stagingError(tracked.step.name, project.name, `uploading the batch input to ${tracked.inputUri}`, error);
      this.hand(await this.release(tracked, stop.message, false, 'BATCH_STAGING_FAILED'));
      this.stopStep(stop);
      return false;
    }
  }

  /** The create call; its name is saved before anything else: a resume polls this job instead of submitting the units again. */
  private async create(tracked: Tracked, project: ProjectCredentials, client: GoogleGenAI, releaseLease: () => void): Promise<void> {
    const { store, job, emit } = this.ctx;
    const { id, step } = tracked;
    let created: BatchJob;
    try {
      created = await this.service.create(client, { model: step.model, src: tracked.inputUri, dest: tracked.outputUri, displayName: id });
    } catch (raw) {
      releaseLease();
      await this.createFailed(tracked, client, classifyError(raw));
      return;
    }
    await store.commit(() => store.batches.named(id, created.name as string, String(created.state ?? 'JOB_STATE_QUEUED')));
    releaseLease();
    tracked.name = created.name;
    tracked.state = String(created.state ?? 'JOB_STATE_QUEUED');
    tracked.nextAt = steadyNow() + (job.batch?.pollMs ?? 30_000);
    tracked.busy = false;
    emit('batch:submitted', { name: tracked.name as string, step: step.name, project: project.name, requests: tracked.members.size, resumed: false });
  }

  /** The create call failed: the job may still exist (the reply was lost), else its units are settled. */
  protected async createFailed(tracked: Tracked, client: GoogleGenAI, error: Error): Promise<void> {
    const found = await this.service.findByDisplayName(client, tracked.id).catch(() => undefined);
    if (found?.name) {
      await this.ctx.store.commit(() => this.ctx.store.batches.named(tracked.id, found.name as string, String(found.state ?? 'JOB_STATE_QUEUED')));
      tracked.name = found.name;
      tracked.nextAt = steadyNow();
      tracked.busy = false;
      return;
    }
    const passing = error instanceof TransientError || error instanceof QuotaExhaustedError;
    const message = `the batch job could not be created: ${error.message}`;
    this.hand(passing ? await this.release(tracked, message, true, 'BATCH_CREATE_FAILED', CREATE_RETRY_MS) : await this.failAll(tracked, message));
  }
}
