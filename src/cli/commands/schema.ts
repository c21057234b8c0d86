import { z } from 'zod';
import { jobFileSchema } from '../../job/schema.js';
import { line, type CliIO } from '../io.js';

/** `genbatch schema`: the JSON Schema of job files, for editor completion (yaml-language-server). */
export function schemaCommand(io: CliIO): number {
  const schema = z.toJSONSchema(jobFileSchema, { io: 'input', unrepresentable: 'any' });
  line(io.stdout, JSON.stringify({ ...schema, title: 'genbatch job file' }, null, 2));
  return 0;
}
