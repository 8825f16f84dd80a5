/**
 * Issue 3's contract: `pathbox analyze` on a real slide and a synthetic one, and the third-party U-Net
 * through the same pipeline and against HistoQC's reference mask.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { maskIoU } from '../../src/analysis/tissue/index.ts';
import { createSession, loadBundle, runRgbBatch } from '../../src/models/index.ts';
import { writeSyntheticSlide } from '../../src/slide/synthetic/index.ts';
import { fixture, projectRoot, skipUnlessFixtures } from '../helpers/fixtures.ts';
import { MODEL, SIZE, writeUnetBundle } from '../helpers/unet-bundle.ts';

interface Result {
  slide: { sha256: string; width: number; height: number; mpp: [number, number] };
  model: { id: string; version: string; variant: string; executionProvider: string; digest: string };
  tissue: { fraction: number; areaMm2: number };
  tiles: { total: number; analyzed: number };
  finding: { label: string; score: number };
  rois: { x: number; y: number; width: number; height: number; score: number }[];
  outputs: { heatmap: string; geojson: string };
  timings: { readMs: number; inferMs: number; totalMs: number };
  status: string;
}

function analyze(file: string, ...extra: string[]): { result: Result; out: string } {
  const out = mkdtempSync(path.join(tmpdir(), 'pathbox-analyze-'));
  const run = spawnSync(process.execPath, [path.join(projectRoot, 'src/cli/main.ts'), 'analyze', file, '--out', out, '--json', ...extra], { encoding: 'utf8', maxBuffer: 16 << 20 });
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stderr, /tiles \(100%\)|\d+\/\d+ tiles/, 'progress on stderr');
  return { result: JSON.parse(run.stdout) as Result, out };
}

async function checkContract(result: Result, out: string): Promise<void> {
  for (const key of ['slide', 'model', 'tissue', 'tiles', 'finding', 'rois', 'outputs', 'timings', 'status']) assert.ok(key in result, `result.${key}`);
  assert.match(result.slide.sha256, /^[0-9a-f]{64}$/);
  assert.equal(result.status, 'preliminary');
  assert.match(result.model.digest, /^sha256:[0-9a-f]{64}$/);
  assert.ok(result.tiles.analyzed > 0 && result.tiles.analyzed <= result.tiles.total);
  assert.ok(result.rois.length > 0);
  for (const roi of result.rois) {
    assert.ok(roi.x >= 0 && roi.y >= 0 && roi.x + roi.width <= result.slide.width && roi.y + roi.height <= result.slide.height, `ROI ${JSON.stringify(roi)} inside the slide`);
  }
  const scores = result.rois.map((r) => r.score);
  assert.deepEqual(scores, [...scores].sort((a, b) => b - a), 'ROIs ranked by score');
  const heatmap = await sharp(path.join(out, result.outputs.heatmap)).metadata();
  const slideAspect = result.slide.width / result.slide.height;
  assert.ok(Math.abs(heatmap.width! / heatmap.height! - slideAspect) < slideAspect * 0.01, `heatmap ${heatmap.width}x${heatmap.height} vs slide aspect ${slideAspect}`);
  const geojson = JSON.parse(readFileSync(path.join(out, result.outputs.geojson), 'utf8'));
  assert.equal(geojson.type, 'FeatureCollection');
  assert.equal(geojson.features.length, result.rois.length);
  assert.equal(geojson.features[0].properties.objectType, 'annotation');
}

test('analyze on CMU-1-Small-Region.svs keeps the contract', { skip: skipUnlessFixtures('slides/CMU-1-Small-Region.svs'), timeout: 180_000 }, async (t) => {
  const { result, out } = analyze(fixture('slides/CMU-1-Small-Region.svs'));
  await checkContract(result, out);
  assert.deepEqual(result.slide.mpp, [0.499, 0.499]);
  assert.ok(result.tissue.fraction > 0.1 && result.tissue.fraction < 0.9, `tissue ${result.tissue.fraction}`);
  t.diagnostic(`CMU-1: ${result.finding.label} ${result.finding.score}, ${result.tiles.analyzed}/${result.tiles.total} tiles, ${result.timings.totalMs} ms`);
});

test('analyze on a synthetic slide finds its tissue and keeps the contract', { timeout: 180_000 }, async (t) => {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'pathbox-syn-')), 'syn.svs');
  await writeSyntheticSlide(file, { width: 6000, height: 4000, seed: 3, mpp: 0.25, tissueFraction: 0.4 });
  const { result, out } = analyze(file);
  await checkContract(result, out);
  assert.ok(Math.abs(result.tissue.fraction - 0.4) < 0.15, `tissue fraction ${result.tissue.fraction} for a slide drawn with 40%`);
  t.diagnostic(`synthetic: ${result.finding.label} ${result.finding.score}, tissue ${result.tissue.fraction}, ${result.tiles.analyzed} tiles`);
});

test('a slide without tissue gives a result that says so', { timeout: 120_000 }, async () => {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'pathbox-empty-')), 'empty.svs');
  await writeSyntheticSlide(file, { width: 3000, height: 2000, seed: 4, mpp: 0.25, tissueFraction: 0 });
  const out = mkdtempSync(path.join(tmpdir(), 'pathbox-analyze-'));
  const run = spawnSync(process.execPath, [path.join(projectRoot, 'src/cli/main.ts'), 'analyze', file, '--out', out, '--json'], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  const result = JSON.parse(run.stdout) as Result & { notes: string[] };
  assert.equal(result.tiles.analyzed, 0);
  assert.equal(result.finding.label, 'no tissue detected');
  assert.ok(result.notes.some((n) => /no tissue/.test(n)));
});

test('the third-party U-Net runs through the same pipeline', { skip: skipUnlessFixtures(MODEL, 'slides/CMU-1-Small-Region.svs', 'tiles/tissue-level2-4640-4649-8736-8746.png', 'tiles/almost-white-1.png'), timeout: 180_000 }, async (t) => {
  const bundle = path.join(mkdtempSync(path.join(tmpdir(), 'pathbox-unet-')), 'tissue-unet');
  await writeUnetBundle(bundle);
  // A field of view the slide can hold: 500 px at 4 um/px is 4 mm, CMU-1 is 1.1 x 1.5 mm.
  const manifest = JSON.parse(readFileSync(path.join(bundle, 'manifest.json'), 'utf8'));
  manifest.input.mpp = 1;
  writeFileSync(path.join(bundle, 'manifest.json'), JSON.stringify(manifest));
  const { result, out } = analyze(fixture('slides/CMU-1-Small-Region.svs'), '--model', bundle);
  await checkContract(result, out);
  assert.equal(result.model.id, 'tissue-unet');
  assert.ok(result.finding.score > 0.1, `U-Net tissue share ${result.finding.score}`);
  t.diagnostic(`U-Net on CMU-1: ${result.tiles.analyzed} tiles, mean tissue share ${result.finding.score}`);
});

test('the third-party U-Net against HistoQC\'s tissue mask', { skip: skipUnlessFixtures(MODEL, 'thumbnails/tcga-ej-5509-thumb.png', 'thumbnails/tcga-ej-5509-histoqc-tissue-mask.png'), timeout: 120_000 }, async (t) => {
  const bundleDir = path.join(mkdtempSync(path.join(tmpdir(), 'pathbox-unet-')), 'tissue-unet');
  await writeUnetBundle(bundleDir);
  const bundle = await loadBundle(bundleDir);
  const reference = await sharp(fixture('thumbnails/tcga-ej-5509-histoqc-tissue-mask.png')).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
  const { width, height } = reference.info;
  const rgb = await sharp(fixture('thumbnails/tcga-ej-5509-thumb.png')).removeAlpha().resize(SIZE, SIZE, { fit: 'fill' }).raw().toBuffer();
  const session = await createSession(bundle, 'fp32', { intraOpThreads: 2 });
  try {
    const map = (await runRgbBatch(session, new Uint8Array(rgb), 1)).cropping2d_12.data;
    const binary = Buffer.from(Array.from(map, (p) => (p >= 0.6 ? 255 : 0)));
    const resized = await sharp(binary, { raw: { width: SIZE, height: SIZE, channels: 1 } }).resize(width, height, { fit: 'fill', kernel: 'nearest' }).extractChannel(0).raw().toBuffer();
    const toMask = (data: Buffer) => ({ width, height, data: Uint8Array.from(data, (v) => (v > 127 ? 1 : 0)), fraction: 0 });
    const iou = maskIoU(toMask(resized), toMask(reference.data));
    t.diagnostic(`U-Net IoU vs HistoQC: ${iou.toFixed(3)}`);
    assert.ok(iou >= 0.85, `IoU ${iou}`);
  } finally {
    await session.release();
  }
});
