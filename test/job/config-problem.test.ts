import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nearestName } from '../../src/errors/suggest-name.js';
import { paramProblems, unpricedModels, type ModelCatalog } from '../../src/job/check-job.js';
import { formatKeyPath, jobProblem } from '../../src/job/config-problem.js';
import { displayPath, loadJob } from '../../src/job/load-job.js';
import { PriceCatalog } from '../../src/estimate/price-catalog.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir();

const JOB = `version: 1
name: demo
input: { file: posts.csv, id: slug }
credentials: creds.yaml
steps:
  - name: brief
    task: text
    model: gemini-2.5-flash
    prompt: "Brief for {{title}}"
  - name: hero
    task: image
    model: gemini-2.5-flsh-image
    prompt: "A picture"
    params:
      aspect_ration: "16:9"
    output:
      file: "images/{{slug}}.png"
      post:
        - watermark: { image: logo.png }
`;

async function jobAt(text: string) {
  const file = join(tempDir(), 'job.yaml');
  writeFileSync(file, text);
  return loadJob(file);
}

describe('the job compiler names the file, line and key of every problem', () => {
  it('finds the line of any key the job file sets, steps by name', async () => {
    const job = await jobAt(JOB);
    expect(job.lines).toMatchObject({
      credentials: 4,
      'steps.hero.model': 12,
      'steps.hero.params.aspect_ration': 15,
      'steps.hero.output.file': 17,
      'steps.hero.output.post[0].watermark.image': 19,
    });
    const error = jobProblem(job)('steps.hero.output.post[0].watermark.image', 'logo.png is not a readable image.', 'Paths are relative.');
    expect(error.message).toBe(`${displayPath(job.file)}:19: steps.hero.output.post[0].watermark.image: logo.png is not a readable image.`);
    expect(error).toMatchObject({ file: job.file, line: 19, keyPath: 'steps.hero.output.post[0].watermark.image', hint: 'Paths are relative.', exitCode: 2 });
    // A key the file does not set: named without a line.
    expect(jobProblem(job)('results.fields', 'x').message).toBe(`${displayPath(job.file)}: results.fields: x`);
  });

  it('reports a wrong model and an unknown parameter on their lines, with the nearest valid name', async () => {
    const job = await jobAt(JOB);
    const [model] = unpricedModels(job, PriceCatalog.load(job.prices));
    expect(model?.message).toMatch(
      /job\.yaml:12: steps\.hero\.model: unknown model "gemini-2\.5-flsh-image" \(no price known for it\); did you mean "gemini-2\.5-flash-image"\?/,
    );
    const [param] = paramProblems(job);
    expect(param?.message).toMatch(
      /job\.yaml:15: steps\.hero\.params\.aspect_ration: unknown parameter for image model gemini-2\.5-flsh-image; did you mean "aspect_ratio"\?/,
    );
  });

  it('asks the catalog only what ModelCatalog names (the price catalog answers it)', async () => {
    const job = await jobAt(JOB);
    const catalog: ModelCatalog = { has: (m) => m === 'gemini-2.5-flash', serves: () => true, nearestModel: () => undefined, nearestModels: () => ['x'] };
    expect(unpricedModels(job, catalog).map((e) => e.keyPath)).toEqual(['steps.hero.model']);
  });

  it('shows key paths as the person reads them', () => {
    expect(formatKeyPath(['steps', 0, 'params', 'size'])).toBe('steps[0].params.size');
    expect(formatKeyPath([])).toBe('(top level)');
    expect(formatKeyPath('steps.hero.model')).toBe('steps.hero.model');
  });
});

describe('the one name suggester', () => {
  it('prefers the nearest name within a typo, then a name the typed one starts or that starts it', () => {
    expect(nearestName('max_ouput_tokens', ['max_output_tokens', 'temperature'])).toBe('max_output_tokens');
    // Near by edits beats a prefix: "gemini-2.5-flash" starts the name, but the typo is of the image model.
    expect(nearestName('gemini-2.5-flash-img', ['gemini-2.5-flash', 'gemini-2.5-flash-image'])).toBe('gemini-2.5-flash-image');
    expect(nearestName('temp', ['top_p', 'temperature'])).toBe('temperature');
    expect(nearestName('Model', ['model'])).toBe('model');
    expect(nearestName('zzz', ['model', 'prompt'])).toBeUndefined();
    expect(nearestName('', ['model'])).toBeUndefined();
  });
});
