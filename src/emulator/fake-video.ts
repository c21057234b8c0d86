import { hashParts } from './seeded-random.js';

/**
 * Placeholder bytes for emulated Veo videos. This is NOT a playable video: it is a well-formed MP4
 * box sequence (an `ftyp` box, then a `free` box holding a text label and a hash of the prompt) so
 * tools that sniff the container see MP4, files are small, and the same prompt gives the same bytes.
 */
function box(type: string, payload: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header.writeUInt32BE(8 + payload.length, 0);
  header.write(type, 4, 'latin1');
  return Buffer.concat([header, payload]);
}

export function placeholderVideo(seed: number, model: string, prompt: string, index: number, durationSeconds: number): Buffer {
  const words = hashParts(seed, model, prompt, index);
  const digest = Buffer.from(words.buffer, words.byteOffset, words.byteLength).toString('hex');
  const ftyp = box('ftyp', Buffer.concat([Buffer.from('isom', 'latin1'), Buffer.from([0, 0, 2, 0]), Buffer.from('isomiso2mp41', 'latin1')]));
  const label = `genbatch emulator placeholder video (not playable): model=${model} duration=${durationSeconds}s sample=${index} prompt-sha256=${digest}`;
  return Buffer.concat([ftyp, box('free', Buffer.from(label, 'utf8'))]);
}
