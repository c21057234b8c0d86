import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors/config-error.js';
import { configError } from '../helpers/config-error.js';
import { loadEmulatorConfig, parseEmulatorConfig } from '../../src/emulator/index.js';

describe('emulator config', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'genbatch-emu-config-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('fills defaults and normalises units', () => {
    const config = parseEmulatorConfig({
      latency_ms: 40,
      projects: { 'blog-batch': { requests: 10, window: '1s' }, slow: { rpm: 10, latency_ms: { min: 20, max: 200 } } },
    });
    expect(config.seed).toBe(42);
    expect(config.latency_ms).toEqual({ min: 40, max: 40 });
    expect(config.retry_after).toBe(true);
    expect(config.video_ms).toBe(1500);
    expect(config.blocked_terms).toEqual(['[unsafe]']);
    expect(config.projects['blog-batch']).toMatchObject({ requests: 10, window: 1000, deny: false, models: {} });
    expect(config.projects.slow?.latency_ms).toEqual({ min: 20, max: 200 });
  });

  it('accepts every duration unit', () => {
    const windows = ['500ms', '2s', '1m', '1h'].map((window) => parseEmulatorConfig({ projects: { p: { requests: 1, window } } }).projects.p?.window);
    expect(windows).toEqual([500, 2000, 60_000, 3_600_000]);
  });

  it('names the file, the key path and the nearest key for a typo', () => {
    const error = configError(() => parseEmulatorConfig({ projects: { prod: { rmp: 10 } } }, 'emu.yaml'));
    expect(error.message).toContain('emu.yaml');
    expect(error.message).toContain('projects.prod');
    expect(error.message).toContain('did you mean "rpm"');
    expect(error.keyPath).toBe('projects.prod.rmp');
    expect(error.file).toBe('emu.yaml');
    expect(error.exitCode).toBe(2);
  });

  it('refuses a bad duration, a rate above 1 and requests without window', () => {
    expect(configError(() => parseEmulatorConfig({ projects: { p: { requests: 5, window: 'soon' } } })).message).toMatch(/projects\.p\.window.*duration/);
    expect(configError(() => parseEmulatorConfig({ fail_rate_503: 2 })).keyPath).toBe('fail_rate_503');
    expect(configError(() => parseEmulatorConfig({ projects: { p: { requests: 5 } } })).message).toMatch(/requests.*window.*go together/);
  });

  it('empty_rate and bad_json_rate default to 0, may be set per model, and are refused outside 0..1 with their key path', () => {
    expect(parseEmulatorConfig({})).toMatchObject({ empty_rate: 0, bad_json_rate: 0 });
    const config = parseEmulatorConfig({ empty_rate: 0.25, models: { 'gemini-2.5-pro': { empty_rate: 1 } } });
    expect(config.empty_rate).toBe(0.25);
    expect(config.models['gemini-2.5-pro']?.empty_rate).toBe(1);
    for (const [raw, keyPath, shown] of [
      [{ empty_rate: 1.5 }, 'empty_rate', '1.5'],
      [{ empty_rate: -0.1 }, 'empty_rate', '-0.1'],
      [{ empty_rate: '5%' }, 'empty_rate', '"5%"'],
      [{ models: { 'gemini-2.5-pro': { empty_rate: 2 } } }, 'models.gemini-2.5-pro.empty_rate', '2'],
      [{ bad_json_rate: 1.01 }, 'bad_json_rate', '1.01'],
    ] as const) {
      const error = configError(() => parseEmulatorConfig(raw, 'emu.yaml'));
      expect(error.keyPath).toBe(keyPath);
      expect(error.message).toBe(`emu.yaml: ${keyPath}: expected a share between 0 and 1 (0.05 = 5% of calls), got ${shown}`);
    }
    expect(configError(() => parseEmulatorConfig({ empty_rat: 0.1 })).message).toContain('did you mean "empty_rate"');
  });

  it('loads YAML and JSON files', async () => {
    const yamlFile = join(dir, 'emulator.yaml');
    await writeFile(
      yamlFile,
      [
        'seed: 7',
        'retry_after: false',
        'projects:',
        '  blog-prod: { rpm: 10 }',
        '  revoked: { deny: true }',
        'models:',
        '  gemini-2.5-flash: { output_tokens: { mean: 300, sd: 120 } }',
      ].join('\n'),
    );
    const fromYaml = await loadEmulatorConfig(yamlFile);
    expect(fromYaml.seed).toBe(7);
    expect(fromYaml.retry_after).toBe(false);
    expect(fromYaml.projects.revoked?.deny).toBe(true);
    expect(fromYaml.models['gemini-2.5-flash']?.output_tokens).toEqual({ mean: 300, sd: 120 });

    const jsonFile = join(dir, 'emulator.json');
    await writeFile(jsonFile, JSON.stringify({ projects: { overflow: { exhaust_after: 147 } } }));
    expect((await loadEmulatorConfig(jsonFile)).projects.overflow?.exhaust_after).toBe(147);
  });

  it('reads api_keys and unavailable_models, suggests the key for a typo, and never prints an API key', () => {
    const config = parseEmulatorConfig({
      api_keys: { 'AIzaSyExampleKey-0123456789abcdefghijklm': 'studio-team' },
      projects: { 'studio-team': { unavailable_models: ['imagen-4.0-fast-generate-001'], models: { 'gemini-2.5-flash': { exhaust_after: 0 } } } },
    });
    expect(config.api_keys).toEqual({ 'AIzaSyExampleKey-0123456789abcdefghijklm': 'studio-team' });
    expect(config.projects['studio-team']?.unavailable_models).toEqual(['imagen-4.0-fast-generate-001']);
    expect(parseEmulatorConfig({}).api_keys).toBeUndefined();
    expect(parseEmulatorConfig({ projects: { p: {} } }).projects.p?.unavailable_models).toEqual([]);

    const typo = configError(() => parseEmulatorConfig({ projects: { p: { unavailable_model: ['x'] } } }, 'emu.yaml'));
    expect(typo.message).toContain('did you mean "unavailable_models"');
    expect(configError(() => parseEmulatorConfig({ projects: { p: { unavailable_models: 'x' } } })).keyPath).toBe('projects.p.unavailable_models');

    const badKey = configError(() => parseEmulatorConfig({ api_keys: { 'AIzaSySecretKey-0123456789abcdefghijkWXYZ': 7 } }, 'emu.yaml'));
    expect(badKey.message).toMatch(/^emu\.yaml: api_keys\.<key …WXYZ>: /);
    expect(badKey.keyPath).toBe('api_keys.<key …WXYZ>');
    expect(`${badKey.message} ${badKey.hint ?? ''}`).not.toContain('SecretKey');
  });

  it('reports unreadable and unparsable files with their name', async () => {
    await expect(loadEmulatorConfig(join(dir, 'missing.yaml'))).rejects.toThrow(/Cannot read the emulator config .*missing\.yaml/);
    const broken = join(dir, 'broken.yaml');
    await writeFile(broken, 'projects:\n  p: { rpm: 10\n');
    await expect(loadEmulatorConfig(broken)).rejects.toBeInstanceOf(ConfigError);
  });

  it('names the line of a bad key in a config file, as the job and credentials files do', async () => {
    const file = join(dir, 'typo.yaml');
    await writeFile(file, 'seed: 1\nprojects:\n  prod:\n    rpm: 10\n    rmp: 20\n');
    const error = await loadEmulatorConfig(file).then(
      () => undefined,
      (caught: unknown) => caught as ConfigError,
    );
    expect(error?.message).toBe(`${file}:5: projects.prod.rmp: unknown key "rmp"; did you mean "rpm"?`);
    expect(error?.line).toBe(5);
  });
});
