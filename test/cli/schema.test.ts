import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

describe('genbatch schema', () => {
  it('prints the JSON Schema of job files, strict about unknown keys', async () => {
    const result = await runCli(['schema']);
    expect(result.code).toBe(0);
    const schema = JSON.parse(result.stdout) as {
      properties: Record<string, { items?: { properties?: Record<string, unknown> } }>;
      additionalProperties: boolean;
      required: string[];
    };
    expect(schema.additionalProperties).toBe(false);
    expect(schema.required).toEqual(expect.arrayContaining(['name', 'input', 'credentials', 'steps']));
    expect(Object.keys(schema.properties.steps?.items?.properties ?? {})).toEqual(
      expect.arrayContaining(['name', 'task', 'model', 'prompt', 'json', 'output']),
    );
  });
});
