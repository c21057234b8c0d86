import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OUTCOME_EXIT_CODES } from '../../src/engine/events.js';
import { METRIC_NAMES } from '../../src/observe/metrics.js';
import { buildErrorSummary, checkNotifyTemplate, TEMPLATE_FIELDS } from '../../src/observe/notify.js';
import { LOGGED_EVENTS } from '../../src/observe/run-log.js';
import { REPO } from '../helpers/cli.js';

const nightly = readFileSync(join(REPO, 'docs', 'nightly.md'), 'utf8');
const observability = readFileSync(join(REPO, 'docs', 'observability.md'), 'utf8');
const EXIT_CODES = [0, 1, 2, 3, 4, 5, 75];

function blocks(markdown: string, lang: string): string[] {
  return [...markdown.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1] ?? '');
}

function unitSetting(unit: string, key: string): number[] {
  const match = new RegExp(`^${key}=(.*)$`, 'm').exec(unit);
  return (match?.[1] ?? '').trim().split(/\s+/).filter(Boolean).map(Number);
}

describe('docs/observability.md', () => {
  it('names every metric and every logged event', () => {
    for (const name of METRIC_NAMES) expect(observability, name).toContain(`| \`${name}\` |`);
    for (const event of LOGGED_EVENTS) expect(observability, event).toContain(`| \`${event}\` |`);
  });

  it('shows log lines that have the documented fields', () => {
    const lines = blocks(observability, 'text')[0]?.trim().split('\n') ?? [];
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines)
      expect(JSON.parse(line)).toMatchObject({
        level: expect.any(String),
        time: expect.any(String),
        job: expect.any(String),
        run_id: expect.any(String),
        event: expect.any(String),
        message: expect.any(String),
      });
  });
});

describe('docs/nightly.md', () => {
  it('explains every exit code and outcome', () => {
    for (const code of EXIT_CODES) expect(nightly).toMatch(new RegExp(`^\\| \`${code}\` \\|`, 'm'));
    for (const code of Object.values(OUTCOME_EXIT_CODES)) expect(EXIT_CODES).toContain(code);
    for (const outcome of [...Object.keys(OUTCOME_EXIT_CODES), 'invalid', 'locked', 'error']) expect(nightly).toContain(`\`${outcome}\``);
  });

  it('documents every field of the summary and every template placeholder, and its templates are valid', () => {
    const summary = buildErrorSummary('job', Object.assign(new Error('m'), { hint: 'h' }), 2);
    for (const key of Object.keys(summary)) expect(nightly, key).toContain(`\`${key}\``);
    for (const field of TEMPLATE_FIELDS) expect(nightly, field).toContain(`{{${field}}}`);
    const templates = [...nightly.matchAll(/--notify-template '([^']+)'/g)].map((m) => m[1] ?? '');
    expect(templates.length).toBeGreaterThanOrEqual(2);
    for (const template of templates) expect(checkNotifyTemplate(template), template).toBeUndefined();
  });

  it('has a systemd unit that succeeds on 0, 1, 5, retries 75 and stops for a person on 2, 3, 4', () => {
    const unit = blocks(nightly, 'ini').find((b) => b.includes('[Service]')) ?? '';
    expect(unit).toMatch(/^Restart=on-failure$/m);
    expect(unitSetting(unit, 'SuccessExitStatus').sort()).toEqual([1, 5]);
    expect(unitSetting(unit, 'RestartPreventExitStatus').sort()).toEqual([2, 3, 4]);
    expect(unit).toMatch(/^ExecStart=.* run \S+ --yes /m);
    const timer = blocks(nightly, 'ini').find((b) => b.includes('[Timer]')) ?? '';
    expect(timer).toMatch(/^Persistent=true$/m);
  });

  it('has a cron wrapper that is valid sh and handles every exit code', () => {
    const script = blocks(nightly, 'sh').find((b) => b.startsWith('#!/bin/sh')) ?? '';
    expect(script).toContain('--yes');
    const labels = [...script.matchAll(/^\s+(\d+)\)/gm)].map((m) => Number(m[1]));
    expect(labels.sort((a, b) => a - b)).toEqual(EXIT_CODES);
    const dir = mkdtempSync(join(tmpdir(), 'genbatch-nightly-'));
    try {
      writeFileSync(join(dir, 'nightly.sh'), script);
      execFileSync('sh', ['-n', join(dir, 'nightly.sh')]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
