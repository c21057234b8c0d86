import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeNpyFloat32, npyHeader } from '../../src/outputs/npy-writer.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tempDir = useTempDir();

/** A small .npy reader, written from the format description (not from the writer). */
function parseNpy(file: Buffer): {
  major: number;
  minor: number;
  headerLength: number;
  header: string;
  descr: string;
  fortran: boolean;
  shape: number[];
  data: Float32Array;
} {
  expect([...file.subarray(0, 6)]).toEqual([0x93, ...Buffer.from('NUMPY', 'latin1')]);
  const major = file[6] ?? -1;
  const minor = file[7] ?? -1;
  const headerLength = file.readUInt16LE(8);
  const header = file.subarray(10, 10 + headerLength).toString('latin1');
  const match = /^\{'descr': '([^']+)', 'fortran_order': (True|False), 'shape': \(([\d, ]*)\), \} *\n$/.exec(header);
  if (!match) throw new Error(`unexpected header ${JSON.stringify(header)}`);
  const shape = (match[3] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(Number);
  const body = file.subarray(10 + headerLength);
  const data = new Float32Array(body.length / 4);
  for (let i = 0; i < data.length; i++) data[i] = body.readFloatLE(i * 4);
  return { major, minor, headerLength, header, descr: match[1] ?? '', fortran: match[2] === 'True', shape, data };
}

function python(script: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync('python3', ['-c', script, ...args], { encoding: 'utf8' });
  return { status: result.error ? null : result.status, stdout: result.stdout ?? '', stderr: result.stderr ?? '' };
}

const hasNumpy = python('import numpy', []).status === 0;

describe('encodeNpyFloat32', () => {
  it('writes magic, version 1.0, a 64-byte aligned header and little-endian float32 rows', () => {
    const vectors = [
      [0.1, -2.5, 3e-8, 1e30],
      [0, -0, 65504.125, -1 / 3],
      [Math.PI, Math.E, -1e-40, 7],
    ];
    const file = encodeNpyFloat32(vectors);
    const npy = parseNpy(file);
    expect([npy.major, npy.minor]).toEqual([1, 0]);
    expect((10 + npy.headerLength) % 64).toBe(0);
    expect(npy.header.startsWith("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }")).toBe(true);
    expect(npy.header.endsWith('\n')).toBe(true);
    expect([npy.descr, npy.fortran, npy.shape]).toEqual(['<f4', false, [3, 4]]);
    expect(file.length).toBe(10 + npy.headerLength + 3 * 4 * 4);
    expect([...npy.data]).toEqual(vectors.flat().map((v) => Math.fround(v)));
    // Little-endian on the wire, whatever the host: 7 as float32 LE is 00 00 e0 40.
    expect([...file.subarray(file.length - 4)]).toEqual([0x00, 0x00, 0xe0, 0x40]);
  });

  it('aligns the header for every shape width (the dict grows with the digits of n and d)', () => {
    for (const [n, d] of [
      [0, 0],
      [1, 1],
      [9, 768],
      [10, 768],
      [123456, 3072],
      [10 ** 9, 10 ** 5],
    ] as const) {
      const header = npyHeader(n, d);
      expect(header.length % 64, `${n}x${d}`).toBe(0);
      expect(header.readUInt16LE(8)).toBe(header.length - 10);
      expect(header.toString('latin1')).toContain(`'shape': (${n}, ${d}), }`);
    }
  });

  it('writes an empty (0, d) array when there are no vectors', () => {
    expect(parseNpy(encodeNpyFloat32([])).shape).toEqual([0, 0]);
    const empty = parseNpy(encodeNpyFloat32([], { dimensions: 768 }));
    expect([empty.shape, empty.data.length]).toEqual([[0, 768], 0]);
  });

  it('refuses vectors of different lengths, naming the one that differs', () => {
    expect(() =>
      encodeNpyFloat32([
        [1, 2, 3],
        [1, 2, 3],
        [1, 2],
      ]),
    ).toThrow(/vector 2 has 2 values, but vector 0 has 3/);
  });

  it('places every row at its offset in a realistic batch (2,000 × 768)', () => {
    const vectors = Array.from({ length: 2_000 }, (_, i) => Array.from({ length: 768 }, (_, j) => Math.sin(i * 768 + j)));
    const file = encodeNpyFloat32(vectors);
    const headerLength = 10 + file.readUInt16LE(8);
    expect(file.length).toBe(headerLength + 2_000 * 768 * 4);
    for (const [row, col] of [
      [0, 0],
      [1, 0],
      [999, 383],
      [1_999, 767],
    ] as const) {
      expect(file.readFloatLE(headerLength + (row * 768 + col) * 4)).toBe(Math.fround(Math.sin(row * 768 + col)));
    }
  });

  it.skipIf(!hasNumpy)('round-trips through numpy.load, and numpy.save writes the very same bytes', () => {
    const dir = tempDir();
    const vectors = [
      [0.25, -1.5, 3.14159, 1e-3, 42],
      [-0.125, 2.5, -3.14159, 1e6, -42],
    ];
    const ours = join(dir, 'ours.npy');
    const theirs = join(dir, 'theirs.npy');
    writeFileSync(ours, encodeNpyFloat32(vectors));
    const script = `
import json, sys, numpy as np
a = np.load(sys.argv[1], allow_pickle=False)
np.save(sys.argv[2], np.array(json.loads(sys.argv[3]), dtype='<f4'))
print(json.dumps({"dtype": a.dtype.str, "shape": list(a.shape), "c": bool(a.flags["C_CONTIGUOUS"]), "values": a.astype(float).tolist()}))
`;
    const result = python(script, [ours, theirs, JSON.stringify(vectors)]);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const loaded = JSON.parse(result.stdout) as { dtype: string; shape: number[]; c: boolean; values: number[][] };
    expect(loaded).toMatchObject({ dtype: '<f4', shape: [2, 5], c: true });
    expect(loaded.values).toEqual(vectors.map((row) => row.map((v) => Math.fround(v))));
    expect(readFileSync(ours).equals(readFileSync(theirs))).toBe(true);
  });
});
