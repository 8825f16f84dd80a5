import path from 'node:path';
import sharp from 'sharp';
import { openSlide, type SlideMetadata } from '../slide/index.ts';
import { writeSyntheticSlide } from '../slide/synthetic/index.ts';
import { integer, output, parse, requiredString, UsageError } from './args.ts';
import type { Command } from './command.ts';

/** The JSON contract of `pathbox slide info` (OpenSlide's meaning, plus the full property list). */
export function slideInfo(metadata: SlideMetadata): object {
  return {
    vendor: metadata.vendor,
    width: metadata.width,
    height: metadata.height,
    levels: metadata.levels.map(({ width, height, downsample, tileWidth, tileHeight }) => ({ width, height, downsample, tileWidth, tileHeight })),
    mpp: metadata.mpp,
    objectivePower: metadata.objectivePower,
    associated: metadata.associated,
    bounds: metadata.bounds,
    properties: metadata.properties,
  };
}

const info: Command = {
  name: 'slide info',
  usage: 'pathbox slide info FILE [--json]',
  summary: 'print a slide\'s vendor, levels, resolution and associated images',
  async run(argv) {
    const args = parse(argv, { json: { type: 'boolean' } });
    const file = args.positionals[0];
    if (!file) throw new UsageError('FILE is required');
    const slide = await openSlide(file);
    try {
      const m = slide.metadata;
      output(args.values.json === true, slideInfo(m), () => [
        `${path.basename(file)}: ${m.vendor}, ${m.width} x ${m.height} px`,
        `  resolution: ${m.mpp ? `${m.mpp[0]} x ${m.mpp[1]} um/px` : 'unknown (no MPP in the file)'}; objective: ${m.objectivePower ?? 'unknown'}`,
        ...m.levels.map((l, i) => `  level ${i}: ${l.width} x ${l.height} (downsample ${l.downsample.toFixed(4)}, tiles ${l.tileWidth} x ${l.tileHeight})`),
        `  associated: ${Object.entries(m.associated).map(([n, [w, h]]) => `${n} ${w}x${h}`).join(', ') || 'none'}`,
      ].join('\n'));
    } finally {
      await slide.close();
    }
  },
};

const region: Command = {
  name: 'slide region',
  usage: 'pathbox slide region FILE --level L --x X --y Y --width W --height H --out FILE.png',
  summary: 'write a region (x,y in level-0 pixels, as OpenSlide) as a PNG',
  async run(argv) {
    const args = parse(argv, {
      level: { type: 'string' }, x: { type: 'string' }, y: { type: 'string' },
      width: { type: 'string' }, height: { type: 'string' }, out: { type: 'string' }, json: { type: 'boolean' },
    });
    const file = args.positionals[0];
    if (!file) throw new UsageError('FILE is required');
    const out = requiredString(args, 'out');
    const level = integer(args, 'level', 0, 0);
    const [x, y] = [integer(args, 'x', undefined), integer(args, 'y', undefined)];
    const [width, height] = [integer(args, 'width', undefined, 1), integer(args, 'height', undefined, 1)];
    const slide = await openSlide(file);
    try {
      const image = await slide.readRegion(level, x, y, width, height);
      await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } }).png().toFile(out);
      output(args.values.json === true, { out, width: image.width, height: image.height }, () => `wrote ${out} (${image.width} x ${image.height})`);
    } finally {
      await slide.close();
    }
  },
};

const makeSynthetic: Command = {
  name: 'slide make-synthetic',
  usage: 'pathbox slide make-synthetic --width W --height H --out FILE.svs [--seed N] [--mpp UM] [--json]',
  summary: 'write an Aperio-style synthetic slide (H&E-like tissue, a label with a fake patient name)',
  async run(argv) {
    const args = parse(argv, { width: { type: 'string' }, height: { type: 'string' }, out: { type: 'string' }, seed: { type: 'string' }, mpp: { type: 'string' }, json: { type: 'boolean' } });
    const out = requiredString(args, 'out');
    const width = integer(args, 'width', undefined, 1, 100_000);
    const height = integer(args, 'height', undefined, 1, 100_000);
    const mpp = args.values.mpp === undefined ? undefined : Number(args.values.mpp);
    if (mpp !== undefined && !(mpp > 0)) throw new UsageError('--mpp must be a positive number');
    const written = await writeSyntheticSlide(out, { width, height, seed: integer(args, 'seed', 1, 0), mpp });
    output(args.values.json === true, { out, ...written }, () => `wrote ${out}: ${width} x ${height}, ${written.levels.length} levels, ${(written.bytes / 1e6).toFixed(1)} MB`);
  },
};

export const slideCommands: Command[] = [info, region, makeSynthetic];
