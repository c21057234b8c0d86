import { createHash } from 'node:crypto';
import { relative } from 'node:path';
import type { StepState } from '../store/step-state.js';
import { escapeHtml as h, pathHref } from './escape-html.js';
import type { CheckVerdict } from '../quality/check-verdict.js';
import type { ReviewCheckAttempt, ReviewData, ReviewItem, ReviewOutput, ReviewStep } from './review-data.js';

const usd = (n: number): string => `$${n.toFixed(n > 0 && n < 0.01 ? 6 : 4)}`;
const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/** An argument as a POSIX shell would need it. */
function shellArg(value: string): string {
  return /^[A-Za-z0-9._\-/:=@]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

const STYLE = `
:root { color-scheme: light dark; --fg: #1d232a; --muted: #5b6673; --bg: #f6f7f9; --card: #fff; --line: #d9dee4;
  --done: #1f7a3d; --failed: #b3261e; --filtered: #8a5a00; --pending: #4a5568; --running: #2b6cb0; --rejected: #9c2f8f; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6e9ed; --muted: #9aa5b1; --bg: #14181d; --card: #1d232a; --line: #313a44; } }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
header.page { padding: 16px 24px; border-bottom: 1px solid var(--line); background: var(--card); position: sticky; top: 0; z-index: 1; }
h1 { font-size: 20px; margin: 0 0 6px; }
.summary { color: var(--muted); margin: 0 0 8px; }
.filters { display: flex; flex-wrap: wrap; gap: 6px; align-items: center; }
.filters button { border: 1px solid var(--line); background: var(--bg); color: var(--fg); border-radius: 14px; padding: 3px 10px; cursor: pointer; }
.filters button[aria-pressed="true"] { background: var(--fg); color: var(--bg); }
.filters input { border: 1px solid var(--line); border-radius: 6px; padding: 4px 8px; min-width: 220px; background: var(--bg); color: var(--fg); }
main { padding: 16px 24px; }
section.failures { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 8px 16px; margin-bottom: 16px; }
section.failures li { margin: 2px 0; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(340px, 1fr)); gap: 14px; }
article.item { background: var(--card); border: 1px solid var(--line); border-left: 4px solid var(--pending); border-radius: 8px; padding: 10px 12px; min-width: 0; }
article.item[data-state="done"] { border-left-color: var(--done); }
article.item[data-state="failed"] { border-left-color: var(--failed); }
article.item[data-state="filtered"] { border-left-color: var(--filtered); }
article.item[data-state="running"] { border-left-color: var(--running); }
article.item[data-rejected="true"] { outline: 2px dashed var(--rejected); }
article.item h2 { font-size: 15px; margin: 0; overflow-wrap: anywhere; }
.head { display: flex; flex-wrap: wrap; gap: 6px; align-items: baseline; }
.badge { font-size: 12px; border-radius: 10px; padding: 0 8px; color: #fff; background: var(--pending); }
.badge.done { background: var(--done); } .badge.failed { background: var(--failed); } .badge.filtered { background: var(--filtered); }
.badge.running { background: var(--running); } .badge.rejected { background: var(--rejected); }
.muted, .head .meta { color: var(--muted); font-size: 12px; }
.thumbs { display: flex; flex-wrap: wrap; gap: 6px; margin: 8px 0; }
.thumbs img { max-width: 100%; height: auto; border-radius: 4px; border: 1px solid var(--line); background: var(--bg); }
.step { border-top: 1px solid var(--line); margin-top: 8px; padding-top: 6px; }
.step h3 { font-size: 13px; margin: 0 0 4px; }
.error { color: var(--failed); overflow-wrap: anywhere; }
.step.filtered .error { color: var(--filtered); }
.badge.truncated { background: var(--filtered); } .truncation { color: var(--filtered); }
.rejection { color: var(--rejected); overflow-wrap: anywhere; }
.checks ul { margin: 2px 0; padding-left: 18px; } .check.failed { color: var(--failed); } .check.passed { color: var(--muted); }
.badge.checks { background: var(--failed); }
.attempt { border: 1px dashed var(--line); border-radius: 6px; padding: 4px 8px; margin: 6px 0; }
.attempt h4, .after-label { font-size: 12px; margin: 0 0 2px; color: var(--muted); }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 10px; margin: 4px 0; }
dt { color: var(--muted); } dd { margin: 0; overflow-wrap: anywhere; white-space: pre-wrap; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; background: var(--bg); padding: 6px; border-radius: 4px; margin: 4px 0; font-size: 12px; }
details > summary { cursor: pointer; color: var(--muted); }
ul.list { margin: 0; padding-left: 18px; }
code { font-size: 12px; overflow-wrap: anywhere; }
`;

const SCRIPT = `
(() => {
  const items = Array.from(document.querySelectorAll('article.item'));
  const buttons = Array.from(document.querySelectorAll('button[data-filter]'));
  const search = document.getElementById('search');
  const shown = document.getElementById('shown');
  let filter = 'all';
  const apply = () => {
    const q = search.value.trim().normalize('NFD').replace(/\\p{M}/gu, '').toLowerCase();
    let n = 0;
    for (const el of items) {
      const byState = filter === 'all' || el.dataset.state === filter || (filter === 'rejected' && el.dataset.rejected === 'true')
        || (filter === 'checks' && el.dataset.checks === 'failed');
      const ok = byState && (!q || el.dataset.search.includes(q));
      el.hidden = !ok;
      if (ok) n += 1;
    }
    shown.textContent = String(n);
  };
  for (const b of buttons) b.addEventListener('click', () => {
    filter = b.dataset.filter;
    for (const o of buttons) o.setAttribute('aria-pressed', String(o === b));
    apply();
  });
  search.addEventListener('input', apply);
})();
`;

const sha256 = (text: string): string => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

/** A JSON value as the reader sees it: lists as lists, objects as nested terms, text as text. */
function fieldValue(value: unknown): string {
  if (Array.isArray(value)) return `<ul class="list">${value.map((v) => `<li>${fieldValue(v)}</li>`).join('')}</ul>`;
  if (value !== null && typeof value === 'object')
    return `<dl>${Object.entries(value)
      .map(([k, v]) => `<dt>${h(k)}</dt><dd>${fieldValue(v)}</dd>`)
      .join('')}</dl>`;
  return h(String(value));
}

/** Case and accents folded, for search: "zurich" finds "Zürich" (the page's script folds the query the same way). */
export function foldForSearch(text: string): string {
  return text.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();
}

function outputLinks(outputs: ReviewOutput[], pageDir: string): string {
  if (outputs.length === 0) return '';
  return `<ul class="files">${outputs.map((o) => `<li><a href="${h(pathHref(relative(pageDir, o.absolute)))}">${h(o.path)}</a> <span class="muted">${o.kind}</span></li>`).join('')}</ul>`;
}

function thumbnails(item: ReviewItem, pageDir: string): string {
  const parts: string[] = [];
  for (const step of item.steps) {
    for (const output of step.outputs) {
      const thumb = output.thumbnail;
      if (!thumb) continue;
      if ('error' in thumb) {
        parts.push(`<p class="error thumb-error">${h(step.name)}: ${h(output.path)}: ${h(thumb.error)}</p>`);
        continue;
      }
      const alt = item.altText ?? `Output of step ${step.name} for item ${item.id}`;
      parts.push(
        `<a href="${h(pathHref(relative(pageDir, output.absolute)))}" title="${h(output.path)}"><img class="thumb" src="${thumb.dataUri}" width="${thumb.width}" height="${thumb.height}" alt="${h(alt)}" data-step="${h(step.name)}"></a>`,
      );
    }
  }
  return parts.length ? `<div class="thumbs">${parts.join('')}</div>` : '';
}

const OUTCOMES: Record<string, string> = {
  passed: 'passed',
  regenerated: 'failed, to be regenerated',
  kept: 'failed, kept (marked)',
  review: 'failed, kept for a person to review',
  failed: 'failed: the step failed',
};

/** The verdicts of checks, failed ones first, each with its reason (and a judge's score). */
function verdictList(verdicts: readonly CheckVerdict[]): string {
  const sorted = [...verdicts.filter((v) => !v.passed), ...verdicts.filter((v) => v.passed)];
  return `<ul>${sorted
    .map((v) => {
      const score = v.score === undefined ? '' : ` (score ${v.score})`;
      const why = v.passed ? `passed${score}` : `${v.reason ?? 'failed'}${score}`;
      return `<li class="check ${v.passed ? 'passed' : 'failed'}" data-check="${h(v.check)}"><code>${h(v.check)}</code> ${h(why)}</li>`;
    })
    .join('')}</ul>`;
}

/** What a step's output (or a replaced attempt) holds: its fields, text and files. */
function content(part: { fields: Record<string, unknown>; text?: string; outputs: ReviewOutput[] }, pageDir: string): string {
  const parts: string[] = [];
  const fields = Object.entries(part.fields);
  if (fields.length > 0)
    parts.push(`<dl class="fields">${fields.map(([k, v]) => `<dt>${h(k)}</dt><dd data-field="${h(k)}">${fieldValue(v)}</dd>`).join('')}</dl>`);
  if (part.text !== undefined) parts.push(`<pre class="text">${h(part.text)}</pre>`);
  parts.push(outputLinks(part.outputs, pageDir));
  return parts.join('');
}

function attemptSection(attempt: ReviewCheckAttempt, pageDir: string): string {
  const failed = attempt.checks.filter((v) => !v.passed).map((v) => v.check);
  const thumbs = attempt.outputs
    .filter((o) => o.thumbnail && !('error' in o.thumbnail))
    .map((o) => {
      const t = o.thumbnail as { dataUri: string; width: number; height: number };
      return `<img class="thumb" src="${t.dataUri}" width="${t.width}" height="${t.height}" alt="Before: attempt ${attempt.attempt}">`;
    })
    .join('');
  return `<div class="attempt before" data-attempt="${attempt.attempt}"><h4>Before: attempt ${attempt.attempt}, failed ${h(failed.join(', ') || 'its checks')} · ${usd(attempt.costUsd)} · ${h(attempt.at)}</h4>${verdictList(attempt.checks)}${thumbs ? `<div class="thumbs">${thumbs}</div>` : ''}${content(attempt, pageDir)}</div>`;
}

function stepSection(step: ReviewStep, pageDir: string): string {
  const meta = [step.task, step.model, step.state, step.cached ? 'from the cache' : (step.project ?? ''), plural(step.attempts, 'attempt'), usd(step.costUsd)]
    .filter(Boolean)
    .join(' · ');
  const parts = [`<h3>${h(step.name)} <span class="muted">${h(meta)}</span></h3>`];
  if (step.truncated) {
    parts.push(
      `<p class="truncation">Truncated: the reply was cut at max_output_tokens (<code>MAX_TOKENS</code>) and kept, as the step says <code>on_truncated: keep</code>.</p>`,
    );
  } else if (step.finishReason) {
    parts.push(`<p class="muted finish">Finish reason: <code>${h(step.finishReason)}</code></p>`);
  }
  if (step.replaced) {
    const kept = step.replaced.outputs.map((o) => `<a href="${h(pathHref(relative(pageDir, o.absolute)))}">${h(o.path)}</a>`).join(', ');
    parts.push(
      `<p class="muted replaced">Regenerated ${h(step.replaced.replacedAt)}; the output it replaced${kept ? ` (${kept})` : ''} is kept until a reviewer keeps the new or the old one (<code>genbatch review JOB --serve</code>).</p>`,
    );
  }
  if (step.checks) {
    const outcome = step.checkOutcome ? (OUTCOMES[step.checkOutcome] ?? step.checkOutcome) : step.checks.every((v) => v.passed) ? 'passed' : 'failed';
    parts.push(
      `<div class="checks" data-outcome="${h(step.checkOutcome ?? '')}"><p class="check-outcome">Checks: ${h(outcome)}</p>${verdictList(step.checks)}</div>`,
    );
  }
  if (step.rejected) parts.push(`<p class="rejection">Rejected ${h(step.rejected.at)}${step.rejected.note ? `: ${h(step.rejected.note)}` : ''}</p>`);
  if (step.error) {
    const label = step.state === 'filtered' ? 'Filtered' : step.state === 'failed' ? 'Failed' : 'Last error';
    parts.push(`<p class="error">${label}: <code>${h(step.error.code)}</code> ${h(step.error.message)}</p>`);
  }
  // Regenerated after failed checks: each replaced attempt (before), then the output now (after).
  const attempts = step.checkAttempts ?? [];
  if (attempts.length > 0) {
    parts.push(...attempts.map((a) => attemptSection(a, pageDir)));
    parts.push(`<p class="after-label">After: attempt ${(attempts.at(-1)?.attempt ?? 0) + 1}</p>`);
  }
  parts.push(`<div class="after">${content(step, pageDir)}</div>`);
  if (step.prompt !== undefined) {
    const changed = step.promptChanged
      ? ' <span class="muted">(the job file or input changed since this was generated: this is the prompt as it would be sent now)</span>'
      : '';
    parts.push(`<details><summary>Prompt${changed}</summary><pre class="prompt">${h(step.prompt)}</pre></details>`);
  } else if (step.promptProblem) {
    parts.push(`<p class="muted">Prompt: ${h(step.promptProblem)}</p>`);
  }
  return `<section class="step ${h(step.state)}" data-step="${h(step.name)}">${parts.join('')}</section>`;
}

function card(item: ReviewItem, pageDir: string, jobArg: string): string {
  const search = foldForSearch([item.id, ...Object.values(item.values)].join(' '));
  const badges = [`<span class="badge ${h(item.state)}">${h(item.state)}</span>`];
  if (item.rejected) badges.push('<span class="badge rejected">rejected</span>');
  if (item.truncated) badges.push('<span class="badge truncated">truncated</span>');
  if (item.failedChecks) badges.push('<span class="badge checks">failed checks</span>');
  const input = Object.entries(item.values);
  return `<article class="item" id="item-${item.ord}" data-id="${h(item.id)}" data-state="${h(item.state)}" data-rejected="${item.rejected}" data-checks="${item.failedChecks ? 'failed' : 'passed'}" data-search="${h(search)}">
<div class="head"><h2>${h(item.id)}</h2>${badges.join('')}<span class="meta">${item.line === null ? '' : `line ${item.line} · `}${usd(item.costUsd)}</span></div>
${thumbnails(item, pageDir)}${item.steps.map((s) => stepSection(s, pageDir)).join('\n')}
<details class="input"><summary>Input row</summary><dl>${input.map(([k, v]) => `<dt>${h(k)}</dt><dd>${h(v)}</dd>`).join('')}</dl></details>
<p class="muted">${item.rejected ? 'Redo: ' : 'Reject: '}<code>${h(item.rejected ? `genbatch retry ${shellArg(jobArg)} --rejected` : `genbatch reject ${shellArg(jobArg)} ${shellArg(item.id)} --note "..."`)}</code></p>
</article>`;
}

const FILTERS: (StepState | 'all' | 'rejected' | 'checks')[] = ['all', 'done', 'failed', 'filtered', 'pending', 'running', 'rejected', 'checks'];
const FILTER_LABELS: Partial<Record<(typeof FILTERS)[number], string>> = { checks: 'failed checks' };

/**
 * The review page: one self-contained HTML file (thumbnails are data URIs; links to the full
 * outputs are relative to `pageDir`). Every value from the input, the model or the state file is
 * escaped, and a Content-Security-Policy allows only this page's own style and script.
 */
export function renderReviewPage(data: ReviewData, options: { pageDir: string; jobArg: string }): string {
  const s = data.status;
  const c = s.counts;
  const countFor = (f: (typeof FILTERS)[number]): number =>
    f === 'all' ? data.items.length : f === 'rejected' ? data.rejectedItems : f === 'checks' ? data.items.filter((i) => i.failedChecks).length : c[f];
  const failures = data.items.filter((i) => i.state === 'failed' || i.state === 'filtered');
  const lastRun = s.last_run
    ? `Last run ${s.last_run.id}: ${s.last_run.outcome ?? 'running or killed'}${s.last_run.exit_code === null ? '' : ` (exit ${s.last_run.exit_code})`}, started ${s.last_run.started_at}.`
    : 'No run yet.';
  const csp = `default-src 'none'; img-src data:; style-src ${sha256(STYLE)}; script-src ${sha256(SCRIPT)}; base-uri 'none'; form-action 'none'`;
  const failureList = failures.length
    ? `<section class="failures"><h2>Failed and filtered (${failures.length})</h2><ul>${failures
        .map((item) => {
          const step = item.steps.find((st) => st.state === item.state);
          return `<li><a href="#item-${item.ord}">${h(item.id)}</a> ${step ? `[${h(step.name)}] <code>${h(step.error?.code ?? '')}</code>${step.finishReason ? ` (${h(step.finishReason)})` : ''} ${h(step.error?.message ?? '')}` : ''}</li>`;
        })
        .join('')}</ul></section>`
    : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${h(csp)}">
<meta name="generator" content="genbatch review">
<title>Review: ${h(data.job)}</title>
<style>${STYLE}</style>
</head>
<body>
<header class="page">
<h1>Review: ${h(data.job)}</h1>
<p class="summary" id="summary">${s.total} items: ${c.done} done, ${c.failed} failed, ${c.filtered} filtered, ${c.pending} pending, ${c.running} running; ${data.rejectedItems} rejected. Spent ${usd(s.cost_usd)} over ${plural(s.requests, 'call')}. ${h(lastRun)} Generated ${h(data.generatedAt)}.</p>
<div class="filters">${FILTERS.filter(
    (f) => f !== 'checks' || data.items.some((i) => i.steps.some((st) => st.checks !== undefined || st.checkAttempts !== undefined)),
  )
    .map((f) => `<button type="button" data-filter="${f}" aria-pressed="${f === 'all'}">${FILTER_LABELS[f] ?? f} (${countFor(f)})</button>`)
    .join('')}
<input id="search" type="search" placeholder="Search id or input…" aria-label="Search items"><span class="muted">showing <span id="shown">${data.items.length}</span></span></div>
</header>
<main>
${failureList}
<div class="grid">
${data.items.map((item) => card(item, options.pageDir, options.jobArg)).join('\n')}
</div>
</main>
<script>${SCRIPT}</script>
</body>
</html>
`;
}
