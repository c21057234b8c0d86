import { endianness } from 'node:os';
import { GenbatchError } from '../errors/genbatch-error.js';

/**
 * NumPy's .npy format, version 1.0 (numpy.org/doc/stable/reference/generated/numpy.lib.format.html):
 * the magic `\x93NUMPY`, the version bytes 1 0, a little-endian uint16 header length, then a Python
 * dict literal padded with spaces and ended by `\n` so the data starts on a 64-byte boundary, then
 * the data in C order. `numpy.load("vectors.npy")` gives an (n, d) float32 array.
 */
const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY
const ALIGNMENT = 64;
/** Magic (6) + version (2) + header length (2). */
const PREAMBLE_BYTES = 10;
const LITTLE_ENDIAN_HOST = endianness() === 'LE';

/**
 * The preamble and header of a 2-D little-endian float32 array of `rows` × `columns`. With `length`
 * (a multiple of 64, at least the shortest header), the header is padded with more spaces to take
 * exactly that many bytes: a writer can reserve room for it before it knows the number of rows.
 */
export function npyHeader(rows: number, columns: number, length?: number): Buffer {
  for (const [name, value] of [
    ['rows', rows],
    ['columns', columns],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`npy ${name} must be a non-negative integer, got ${value}.`);
  }
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${rows}, ${columns}), }`;
  // Pad with spaces so that preamble + dict + "\n" is a multiple of 64 bytes.
  const unpadded = PREAMBLE_BYTES + dict.length + 1;
  const shortest = unpadded + ((ALIGNMENT - (unpadded % ALIGNMENT)) % ALIGNMENT);
  if (length !== undefined && (length < shortest || length % ALIGNMENT !== 0)) throw new RangeError(`npy header of ${length} bytes cannot hold ${dict}.`);
  const header = `${dict}${' '.repeat((length ?? shortest) - unpadded)}\n`;
  const preamble = Buffer.alloc(PREAMBLE_BYTES);
  MAGIC.copy(preamble, 0);
  preamble[6] = 1; // major version
  preamble[7] = 0; // minor version
  preamble.writeUInt16LE(header.length, 8);
  return Buffer.concat([preamble, Buffer.from(header, 'latin1')]);
}

/**
 * Encodes vectors (all of the same length) as an (n, d) float32 .npy file. With no vectors the
 * shape is (0, `dimensions`), 0 unless given.
 */
export function encodeNpyFloat32(vectors: readonly (readonly number[])[], options: { dimensions?: number } = {}): Buffer {
  const columns = vectors[0]?.length ?? options.dimensions ?? 0;
  for (const [index, vector] of vectors.entries()) {
    if (vector.length !== columns) {
      throw new GenbatchError(`Cannot write the .npy file: vector ${index} has ${vector.length} values, but vector 0 has ${columns}.`, {
        code: 'NPY_RAGGED',
        hint: 'Every embedding of a step must have the same dimension; check output_dimensionality and the model of the step.',
      });
    }
  }
  const header = npyHeader(vectors.length, columns);
  const out = Buffer.alloc(header.length + vectors.length * columns * 4);
  header.copy(out, 0);
  if (LITTLE_ENDIAN_HOST && (out.byteOffset + header.length) % 4 === 0) {
    // The data starts on a 64-byte boundary: write through a Float32Array view (native = little-endian).
    const view = new Float32Array(out.buffer, out.byteOffset + header.length, vectors.length * columns);
    for (const [row, vector] of vectors.entries()) view.set(vector, row * columns);
  } else {
    let offset = header.length;
    for (const vector of vectors) {
      for (const value of vector) offset = out.writeFloatLE(value, offset);
    }
  }
  return out;
}
