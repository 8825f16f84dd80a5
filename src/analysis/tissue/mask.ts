import { rename, unlink } from 'node:fs/promises';
import sharp from 'sharp';
import { TissueError } from './errors.ts';

/** A binary tissue mask: one byte per pixel, 1 = tissue, row-major, at the resolution it was computed. */
export interface TissueMask {
  width: number;
  height: number;
  data: Uint8Array;
  /** Share of pixels that are tissue, 0..1. */
  fraction: number;
}

function assertValidMask(mask: TissueMask, name: string): void {
  if (!Number.isInteger(mask.width) || !Number.isInteger(mask.height) || mask.width < 1 || mask.height < 1 || mask.data.length !== mask.width * mask.height) {
    throw new TissueError('INVALID_MASK', `${name} mask of ${mask.width}x${mask.height} has ${mask.data.length} bytes, expected width x height > 0`);
  }
}

export function maskFromData(width: number, height: number, data: Uint8Array): TissueMask {
  let tissue = 0;
  for (let i = 0; i < data.length; i++) tissue += data[i];
  return { width, height, data, fraction: data.length === 0 ? 0 : tissue / data.length };
}

/**
 * Intersection over union of two same-sized masks (any non-zero byte is tissue). Two empty masks agree
 * perfectly, so their IoU is 1.
 */
export function maskIoU(a: TissueMask, b: TissueMask): number {
  assertValidMask(a, 'first');
  assertValidMask(b, 'second');
  if (a.width !== b.width || a.height !== b.height) {
    throw new TissueError('MASK_SIZE_MISMATCH', `cannot compare a ${a.width}x${a.height} mask with a ${b.width}x${b.height} mask`);
  }
  let intersection = 0;
  let union = 0;
  for (let i = 0; i < a.data.length; i++) {
    const inA = a.data[i] !== 0;
    const inB = b.data[i] !== 0;
    if (inA && inB) intersection++;
    if (inA || inB) union++;
  }
  return union === 0 ? 1 : intersection / union;
}

/**
 * Writes the mask as a 1-channel PNG (tissue 255, background 0). The file appears whole or not at all:
 * it is written beside the target and renamed, so a reader never sees half a mask after a crash.
 */
export async function writeMaskPng(mask: TissueMask, path: string): Promise<void> {
  assertValidMask(mask, 'the');
  const grey = Buffer.alloc(mask.data.length);
  for (let i = 0; i < mask.data.length; i++) grey[i] = mask.data[i] ? 255 : 0;
  const partial = `${path}.${process.pid}.partial`;
  try {
    await sharp(grey, { raw: { width: mask.width, height: mask.height, channels: 1 } }).toColourspace('b-w').png().toFile(partial);
    await rename(partial, path);
  } catch (e) {
    await unlink(partial).catch(() => undefined);
    throw new TissueError('IO', `cannot write tissue mask PNG ${path}: ${(e as Error).message}`, { cause: e });
  }
}
