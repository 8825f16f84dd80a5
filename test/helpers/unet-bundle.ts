/**
 * A model bundle for the real third-party tissue U-Net (SuperFastTissueSegmentor, MIT) in
 * ../shared/fixtures: the manifest is written here and the ONNX file copied into the bundle at test time
 * (it stays in ../shared; symlinks out of a bundle are refused).
 */
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import sharp from 'sharp';
import { sha256Hex } from '../../src/models/bundle-files.ts';
import { fixture } from './fixtures.ts';

export const MODEL = 'models/tissue-unet/best_unet.onnx';
export const TISSUE_TILE = 'tiles/tissue-level2-4640-4649-8736-8746.png';
export const WHITE_TILE = 'tiles/almost-white-1.png';
export const SIZE = 500;

export async function rgbAt500(relative: string): Promise<Uint8Array> {
  const { data } = await sharp(fixture(relative)).removeAlpha().resize(SIZE, SIZE).raw().toBuffer({ resolveWithObject: true });
  return new Uint8Array(data);
}

/** The fixtures README's description of the model's input, computed here by hand as an independent check. */
function nhwcOverRange(rgb: Uint8Array): Float32Array {
  return Float32Array.from(rgb, (v) => v / 255);
}

export async function writeUnetBundle(dir: string): Promise<void> {
  await mkdir(path.join(dir, 'selftest'), { recursive: true });
  await copyFile(fixture(MODEL), path.join(dir, 'best_unet.onnx'));
  const tissue = await rgbAt500(TISSUE_TILE);
  await sharp(tissue, { raw: { width: SIZE, height: SIZE, channels: 3 } }).png().toFile(path.join(dir, 'selftest', 'tissue.png'));

  const direct = await InferenceSession.create(fixture(MODEL), { intraOpNumThreads: 2 });
  const expected = (await direct.run({ input: new Tensor('float32', nhwcOverRange(tissue), [1, SIZE, SIZE, 3]) })).cropping2d_12;
  await direct.release();
  const values = expected.data as Float32Array;
  await writeFile(path.join(dir, 'selftest', 'tissue.expected.f32'), new Uint8Array(values.buffer, values.byteOffset, values.byteLength));

  const manifest = {
    schemaVersion: 1,
    id: 'tissue-unet',
    name: 'SuperFastTissueSegmentor U-Net',
    version: '1.0.0',
    releaseCounter: 1,
    task: 'tissue-segmentation',
    organs: ['any'],
    cancerTypes: [],
    intendedUse: 'Research use only: tissue versus background on low-magnification thumbnails. Marks dark pen ink as tissue.',
    licence: 'MIT',
    researchOnly: true,
    source: 'SoroushOskouei/SuperFastTissueSegmentor onnx_model/best_unet.onnx',
    input: {
      name: 'input',
      dtype: 'float32',
      layout: 'NHWC',
      size: { width: SIZE, height: SIZE },
      channelOrder: 'RGB',
      scaling: { scale: 1 / 255, mean: [0, 0, 0], std: [1, 1, 1] },
      mpp: 8,
    },
    outputs: [
      { name: 'cropping2d_12', kind: 'probability-map', mapLayout: 'NHWC', classNames: ['tissue'], activation: 'none', positiveClass: 'tissue', threshold: 0.6 },
    ],
    variants: [
      { name: 'fp32', file: 'best_unet.onnx', sha256: sha256Hex(await readFile(fixture(MODEL))), precision: 'fp32', executionProviders: ['cpu'], minMemoryMB: 512 },
    ],
    selfTest: {
      vectors: [
        {
          name: 'tissue tile',
          input: { format: 'png', file: 'selftest/tissue.png' },
          expected: [{ output: 'cropping2d_12', file: 'selftest/tissue.expected.f32' }],
          atol: 1e-4,
        },
      ],
    },
  };
  await writeFile(path.join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2));
}

