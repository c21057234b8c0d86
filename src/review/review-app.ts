import { escapeHtml as h } from './escape-html.js';

/**
 * The interactive review page of `genbatch review --serve`: a shell whose script fetches the items
 * from the server and renders them with DOM calls (textContent only: no model or input text is ever
 * parsed as HTML). Styles and script are files of the server, so the page's CSP allows only 'self'.
 */
export const REVIEW_APP_HTML = (job: string): string => `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src 'self'; media-src 'self'; style-src 'self'; script-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'">
<title>Review: ${h(job)}</title>
<link rel="stylesheet" href="/app.css">
</head>
<body>
<header class="page">
<h1>Review: ${h(job)}</h1>
<p class="summary" id="summary">Loading…</p>
<div class="filters" id="filters"></div>
<div class="bar">
<input id="search" type="search" placeholder="Search id or input…" aria-label="Search items">
<button type="button" id="regenerate">Regenerate rejected</button>
<span id="progress" role="status" aria-live="polite"></span>
</div>
<p class="muted keys">Keys: j / k next / previous, a approve, r reject (with the note typed in the card).</p>
</header>
<main><div class="grid" id="grid"></div></main>
<script src="/app.js"></script>
</body>
</html>
`;

export const REVIEW_APP_CSS = `
:root { color-scheme: light dark; --fg: #1d232a; --muted: #5b6673; --bg: #f6f7f9; --card: #fff; --line: #d9dee4;
  --done: #1f7a3d; --failed: #b3261e; --pending: #4a5568; --rejected: #9c2f8f; --approved: #1f7a3d; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6e9ed; --muted: #9aa5b1; --bg: #14181d; --card: #1d232a; --line: #313a44; } }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
header.page { padding: 10px 14px; border-bottom: 1px solid var(--line); background: var(--card); position: sticky; top: 0; z-index: 1; }
h1 { font-size: 18px; margin: 0 0 4px; overflow-wrap: anywhere; }
.summary, .muted { color: var(--muted); font-size: 13px; margin: 2px 0; }
.filters, .bar { display: flex; flex-wrap: wrap; gap: 6px; align-items: center; margin: 4px 0; }
button { font: inherit; border: 1px solid var(--line); background: var(--bg); color: var(--fg); border-radius: 14px; padding: 6px 12px; cursor: pointer; min-height: 36px; }
button[aria-pressed="true"] { background: var(--fg); color: var(--bg); }
#regenerate { background: var(--rejected); color: #fff; border-color: var(--rejected); }
#search { flex: 1 1 160px; min-width: 0; border: 1px solid var(--line); border-radius: 6px; padding: 6px 8px; background: var(--bg); color: var(--fg); font: inherit; }
main { padding: 12px 14px; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(100%, 300px), 1fr)); gap: 12px; }
article.item { background: var(--card); border: 1px solid var(--line); border-left: 4px solid var(--pending); border-radius: 8px; padding: 10px; min-width: 0; }
article.item[data-state="done"] { border-left-color: var(--done); }
article.item[data-state="failed"] { border-left-color: var(--failed); }
article.item[data-rejected="true"] { outline: 2px dashed var(--rejected); }
article.item[data-approved="true"] { outline: 2px solid var(--approved); }
article.item:focus { box-shadow: 0 0 0 3px #2b6cb0; outline-offset: 2px; }
article.item h2 { font-size: 15px; margin: 0 0 4px; overflow-wrap: anywhere; }
article.item img, article.item video { max-width: 100%; height: auto; border-radius: 4px; display: block; margin: 4px 0; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 8px; margin: 4px 0; font-size: 13px; }
dt { color: var(--muted); } dd { margin: 0; overflow-wrap: anywhere; white-space: pre-wrap; }
.actions { display: flex; flex-wrap: wrap; gap: 6px; margin-top: 6px; }
.actions input { flex: 1 1 120px; min-width: 0; border: 1px solid var(--line); border-radius: 6px; padding: 6px; background: var(--bg); color: var(--fg); font: inherit; }
.note { color: var(--rejected); overflow-wrap: anywhere; }
.step { border-top: 1px solid var(--line); margin-top: 6px; padding-top: 4px; }
.step h3 { font-size: 13px; margin: 0 0 4px; overflow-wrap: anywhere; }
ul.list { margin: 0; padding-left: 18px; }
.compare { display: grid; grid-template-columns: 1fr 1fr; gap: 6px; }
.compare figure { margin: 0; min-width: 0; }
.compare figcaption { font-size: 12px; color: var(--muted); }
article.item[data-comparing="true"] { outline: 2px dotted var(--running, #2b6cb0); }
details > summary { cursor: pointer; color: var(--muted); font-size: 13px; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; background: var(--bg); padding: 6px; border-radius: 4px; margin: 4px 0; font-size: 12px; }
.error { color: var(--failed); overflow-wrap: anywhere; }
.checks ul { margin: 2px 0; padding-left: 18px; font-size: 13px; } .check.failed { color: var(--failed); } .check.passed { color: var(--muted); }
.attempt { border: 1px dashed var(--line); border-radius: 6px; padding: 4px 8px; margin: 6px 0; }
@media (max-width: 480px) { .keys { display: none; } }
`;

export const REVIEW_APP_JS = `
(() => {
  const FILTERS = ['all', 'done', 'failed', 'pending', 'rejected', 'approved', 'unreviewed', 'regenerated', 'failed checks'];
  const grid = document.getElementById('grid');
  const search = document.getElementById('search');
  const summary = document.getElementById('summary');
  const progressEl = document.getElementById('progress');
  const regenerate = document.getElementById('regenerate');
  const filters = document.getElementById('filters');
  let filter = 'all';
  let items = [];
  const el = (tag, attrs, ...children) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'text') node.textContent = v; else node.setAttribute(k, v);
    }
    for (const c of children) if (c) node.append(c);
    return node;
  };
  // Search folds case and accents: "zurich" finds "Zürich".
  const fold = (text) => text.normalize('NFD').replace(/\\p{M}/gu, '').toLowerCase();
  // A JSON value as the reader sees it: lists as lists, objects as nested terms, text as text.
  const value = (v) => {
    if (Array.isArray(v)) return el('ul', { class: 'list' }, ...v.map((x) => el('li', {}, value(x))));
    if (v && typeof v === 'object') {
      const dl = el('dl');
      for (const [k, x] of Object.entries(v)) dl.append(el('dt', { text: k }), el('dd', {}, value(x)));
      return dl;
    }
    return document.createTextNode(v === null ? 'null' : String(v));
  };
  const post = async (path, body) => {
    const res = await fetch(path, { method: 'POST', headers: { 'content-type': 'application/json', 'x-genbatch-review': '1' }, body: JSON.stringify(body || {}) });
    const json = await res.json();
    if (!res.ok) { progressEl.textContent = json.error + (json.hint ? ' ' + json.hint : ''); throw new Error(json.error); }
    return json;
  };
  const matches = (item) => {
    const byState = filter === 'all' || item.state === filter || (filter === 'rejected' && item.rejected) || (filter === 'approved' && item.approved)
      || (filter === 'unreviewed' && !item.rejected && !item.approved) || (filter === 'regenerated' && item.comparing)
      || (filter === 'failed checks' && item.failedChecks);
    const q = fold(search.value.trim());
    return byState && (!q || fold([item.id, ...Object.values(item.values), item.altText || ''].join(' ')).includes(q));
  };
  const card = (item) => {
    const art = el('article', { class: 'item', tabindex: '0', 'data-id': item.id, 'data-state': item.state, 'data-rejected': String(item.rejected), 'data-approved': String(item.approved), 'data-comparing': String(item.comparing) });
    const badges = [item.state, item.rejected ? 'rejected' : '', item.approved ? 'approved' : '', item.comparing ? 'regenerated: keep new or old?' : ''].filter(Boolean).join(' · ');
    art.append(el('h2', { text: item.id }), el('p', { class: 'muted', text: badges + ' · $' + item.costUsd.toFixed(4) }));
    for (const step of item.steps) {
      const section = el('section', { class: 'step', 'data-step': step.name },
        el('h3', { text: step.name }, el('span', { class: 'muted', text: ' ' + [step.task, step.model, step.state, '$' + step.costUsd.toFixed(4)].join(' · ') })));
      const shown = (target, part, label) => {
        for (const o of part.outputs) {
          if (o.kind === 'image') target.append(el('img', { src: o.url, alt: (label ? label + ': ' : '') + (item.altText || 'Output of ' + step.name + ' for ' + item.id), 'data-step': step.name, loading: 'lazy' }));
          else if (o.kind === 'video') target.append(el('video', { src: o.url, controls: '', preload: 'metadata' }));
          else target.append(el('a', { href: o.url, text: o.path }));
        }
        const fields = Object.entries(part.fields);
        if (fields.length) {
          const dl = el('dl', { class: 'fields' });
          for (const [k, v] of fields) dl.append(el('dt', { text: k }), el('dd', { 'data-field': k }, value(v)));
          target.append(dl);
        }
        if (part.text) target.append(el('p', { class: 'text', text: part.text }));
      };
      // The checks' verdicts, failed first, each with its reason.
      const verdicts = (list) => el('ul', {}, ...list.filter((v) => !v.passed).concat(list.filter((v) => v.passed)).map((v) =>
        el('li', { class: 'check ' + (v.passed ? 'passed' : 'failed'), 'data-check': v.check, text: v.check + ': ' + (v.passed ? 'passed' : (v.reason || 'failed')) + (v.score === undefined ? '' : ' (score ' + v.score + ')') })));
      if (step.checks) section.append(el('div', { class: 'checks' }, el('p', { class: 'muted', text: 'Checks: ' + (step.checkOutcome || (step.checks.every((v) => v.passed) ? 'passed' : 'failed')) }), verdicts(step.checks)));
      for (const a of step.checkAttempts) {
        // Replaced after failing its checks: shown before the output now.
        const box = el('div', { class: 'attempt before', 'data-attempt': String(a.attempt) }, el('p', { class: 'muted', text: 'Before: attempt ' + a.attempt }), verdicts(a.checks));
        shown(box, a, 'Before');
        section.append(box);
      }
      if (step.checkAttempts.length) section.append(el('p', { class: 'muted after-label', text: 'After: attempt ' + (step.checkAttempts[step.checkAttempts.length - 1].attempt + 1) }));
      if (step.before) {
        // Regenerated: the replaced output and the new one side by side until the reviewer chooses.
        const before = el('figure', { class: 'before' }, el('figcaption', { text: 'Before' }));
        const after = el('figure', { class: 'after' }, el('figcaption', { text: 'After' }));
        shown(before, step.before, 'Before');
        shown(after, step, 'After');
        section.append(el('div', { class: 'compare' }, before, after));
      } else shown(section, step, '');
      if (step.error) section.append(el('p', { class: 'error', text: step.error.code + ' ' + step.error.message }));
      if (step.prompt !== null) {
        const changed = step.promptChanged ? ' (the job file or input changed since this was generated: this is the prompt as it would be sent now)' : '';
        section.append(el('details', { class: 'prompt' }, el('summary', { text: 'Prompt' + changed }), el('pre', { text: step.prompt })));
      } else if (step.promptProblem) section.append(el('p', { class: 'muted', text: 'Prompt: ' + step.promptProblem }));
      art.append(section);
    }
    const input = el('dl');
    for (const [k, v] of Object.entries(item.values)) input.append(el('dt', { text: k }), el('dd', { text: v }));
    art.append(el('details', { class: 'input' }, el('summary', { text: 'Input row' + (item.line === null ? '' : ' (line ' + item.line + ')') }), input));
    if (item.note) art.append(el('p', { class: 'note', text: 'Note: ' + item.note }));
    const note = el('input', { type: 'text', placeholder: 'Note (why rejected)', 'aria-label': 'Note for ' + item.id, class: 'note-input' });
    const approve = el('button', { type: 'button', class: 'approve', text: 'Approve' });
    const reject = el('button', { type: 'button', class: 'reject', text: 'Reject' });
    approve.addEventListener('click', () => act(item.id, 'approve'));
    reject.addEventListener('click', () => act(item.id, 'reject', note.value));
    if (item.comparing) {
      // Approve keeps the new output; reject keeps the old one (its file and result are put back).
      approve.textContent = 'Keep new';
      reject.textContent = 'Keep old';
      reject.className = 'reject keep-old';
      art.append(el('div', { class: 'actions' }, approve, reject));
    } else if (item.state === 'done' || item.rejected) art.append(el('div', { class: 'actions' }, note, approve, reject));
    return art;
  };
  const render = () => {
    const focused = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.id : undefined;
    grid.replaceChildren(...items.filter(matches).map(card));
    if (focused) { const again = grid.querySelector('article[data-id="' + CSS.escape(focused) + '"]'); if (again) again.focus(); }
    const count = (f) => items.filter((i) => { const keep = filter; filter = f; const ok = matches(i); filter = keep; return ok; }).length;
    filters.replaceChildren(...FILTERS.map((f) => {
      const b = el('button', { type: 'button', 'data-filter': f, 'aria-pressed': String(f === filter), text: f + ' (' + count(f) + ')' });
      b.addEventListener('click', () => { filter = f; render(); });
      return b;
    }));
  };
  const load = async () => {
    const data = await (await fetch('/api/items')).json();
    items = data.items;
    const c = data.status.counts;
    summary.textContent = data.status.total + ' items: ' + c.done + ' done, ' + c.failed + ' failed, ' + (c.pending + c.running) + ' pending; '
      + items.filter((i) => i.rejected).length + ' rejected, ' + items.filter((i) => i.approved).length + ' approved. Spent $' + data.status.cost_usd.toFixed(4) + '.';
    showProgress(data.progress);
    render();
  };
  const act = async (id, action, note) => {
    await post('/api/items/' + encodeURIComponent(id) + '/' + action, note ? { note } : {});
    await load();
  };
  const showProgress = (p) => {
    regenerate.disabled = p.state === 'running';
    if (p.state === 'idle') progressEl.textContent = '';
    else if (p.state === 'running') progressEl.textContent = 'Regenerating: ' + p.done + ' of ' + p.total + ' step(s) done' + (p.failed ? ', ' + p.failed + ' failed' : '') + '…';
    else progressEl.textContent = (p.state === 'finished' ? 'Regenerated: ' : 'Regeneration failed: ') + p.done + ' of ' + p.total + ' step(s) done, ' + p.failed + ' failed. ' + (p.message || '');
  };
  const poll = async () => {
    const p = await (await fetch('/api/progress')).json();
    showProgress(p);
    if (p.state === 'running') setTimeout(poll, 300); else await load();
  };
  regenerate.addEventListener('click', async () => {
    const p = await post('/api/regenerate');
    showProgress(p);
    poll();
  });
  search.addEventListener('input', render);
  document.addEventListener('keydown', (e) => {
    if (e.target instanceof HTMLInputElement || e.metaKey || e.ctrlKey || e.altKey) return;
    const cards = Array.from(grid.querySelectorAll('article.item'));
    const at = cards.indexOf(document.activeElement);
    if (e.key === 'j' || e.key === 'k') {
      const next = cards[Math.max(0, Math.min(cards.length - 1, at + (e.key === 'j' ? 1 : -1)))] || cards[0];
      if (next) { next.focus(); next.scrollIntoView({ block: 'nearest' }); }
      e.preventDefault();
    } else if ((e.key === 'a' || e.key === 'r') && at >= 0) {
      const card = cards[at];
      const note = card.querySelector('.note-input');
      act(card.dataset.id, e.key === 'a' ? 'approve' : 'reject', e.key === 'r' && note ? note.value : undefined);
      e.preventDefault();
    }
  });
  load();
})();
`;
