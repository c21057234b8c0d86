import { ConfigError } from '../errors/config-error.js';
import type { InputOptions } from './input-source.js';

const NAMED: Record<string, string> = { tab: '\t', '\\t': '\t', comma: ',', semicolon: ';', pipe: '|', colon: ':', space: ' ' };

/** The delimiter and quote the person set, checked; `undefined` means "detect". */
export function explicitDialect(opts: InputOptions): { delimiter?: string; quote?: string } {
  const result: { delimiter?: string; quote?: string } = {};
  const d = opts.delimiter;
  if (d !== undefined && d !== 'auto') {
    const delimiter = NAMED[d.toLowerCase()] ?? d;
    if ([...delimiter].length !== 1 || delimiter === '\n' || delimiter === '\r') {
      throw new ConfigError(`input.delimiter ${JSON.stringify(d)}, set for ${opts.file}, must be one character.`, {
        code: 'INPUT_DELIMITER_INVALID',
        file: opts.file,
        keyPath: 'input.delimiter',
        hint: 'Use auto, ",", ";", "|", ":", "\\t" (or tab), or any other single character.',
      });
    }
    result.delimiter = delimiter;
  }
  if (opts.quote !== undefined && opts.quote !== 'auto') {
    if (opts.quote !== '"' && opts.quote !== "'") {
      throw new ConfigError(`input.quote ${JSON.stringify(opts.quote)}, set for ${opts.file}, must be " or '.`, {
        code: 'INPUT_QUOTE_INVALID',
        file: opts.file,
        keyPath: 'input.quote',
        hint: 'Set input.quote to "\\"" or "\'", or remove it to detect the quote.',
      });
    }
    result.quote = opts.quote;
  }
  if (result.delimiter !== undefined && result.delimiter === result.quote) {
    throw new ConfigError(`input.delimiter and input.quote, set for ${opts.file}, are both ${JSON.stringify(result.quote)}.`, {
      code: 'INPUT_DELIMITER_INVALID',
      file: opts.file,
      keyPath: 'input.delimiter',
      hint: 'Choose a delimiter different from the quote character.',
    });
  }
  return result;
}
