/**
 * npm run bench:pipeline — the synthetic reference slide (40000 x 30000 px at 0.25 MPP, ~40% tissue, seed 7)
 * through the whole engine with the cellularity model: seconds, tiles/s, peak RSS; and in the same run the
 * read-only time of the same tiles and the inference-only time of as many tensors. Each part runs in its
 * own process so each peak RSS is its own; the parts take turns for PATHBOX_BENCH_ROUNDS rounds (2) and
 * each keeps its fastest time.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileSync } from 'node:fs';
import { analyzeSlide, patchBatches, planAnalysis } from '../src/analysis/index.ts';
import { probeHardware } from '../src/device/index.ts';
import { openModel, runBatch, inputShape } from '../src/models/index.ts';
import { openSlide } from '../src/slide/index.ts';
import { outputDir, progress, syntheticReferenceSlide, table } from './support.ts';

const SLIDE = path.join(outputDir(), 'synthetic-40x-40000x30000-seed7.svs');
const READ_CONCURRENCY = Number(process.env.PATHBOX_READ_CONCURRENCY ?? 4);
const ROUNDS = Number(process.env.PATHBOX_BENCH_ROUNDS ?? 2);

interface PartResult { part: string; seconds: number; tiles: number; peakRssMB: number; batchSize: number; variant: string }

async function runPart(part: string): Promise<PartResult> {
  const runtime = await openModel('cellularity', await probeHardware());
  const { session, selection } = runtime;
  // As the pipeline opens it (tiles cached on first use), but with every core decoding.
  const slide = await openSlide(SLIDE, { cacheAdmission: 'first-request' });
  const { grid } = await planAnalysis(slide, session.manifest);
  const inputSize = session.manifest.input.size.width;
  const started = performance.now();
  if (part === 'full') {
    await slide.close();
    await analyzeSlide(SLIDE, { session, batchSize: selection.batchSize, decodeThreads: selection.decodeThreads, outDir: path.join(outputDir(), 'pipeline-result'), readConcurrency: READ_CONCURRENCY });
  } else if (part === 'read') {
    for await (const batch of patchBatches(slide, grid, { inputSize, batchSize: selection.batchSize, readConcurrency: READ_CONCURRENCY, maxReadyBatches: 2 })) void batch;
    await slide.close();
  } else {
    await slide.close();
    const perPatch = inputShape(session.manifest.input, 1).reduce((a, b) => a * b, 1);
    const tensor = new Float32Array(perPatch * selection.batchSize).map((_, i) => (i * 37) % 256);
    for (let done = 0; done < grid.tiles.length; done += selection.batchSize) {
      const n = Math.min(selection.batchSize, grid.tiles.length - done);
      await runBatch(session, tensor.subarray(0, n * perPatch), n);
    }
  }
  const seconds = (performance.now() - started) / 1000;
  await session.release();
  return { part, seconds, tiles: grid.tiles.length, peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024), batchSize: selection.batchSize, variant: selection.variant.name };
}

const part = process.argv[2];
if (part) {
  process.stdout.write(JSON.stringify(await runPart(part)));
} else {
  await syntheticReferenceSlide();
  // The parts take turns, ROUNDS times, and each keeps its fastest run: on a shared machine a burst of
  // someone else's load then costs one run, not the comparison.
  const best = new Map<string, PartResult>();
  for (let round = 1; round <= ROUNDS; round++) {
    for (const p of ['read', 'infer', 'full']) {
      progress(`bench:pipeline: ${p}, round ${round} of ${ROUNDS} ...`);
      const run = spawnSync(process.execPath, [fileURLToPath(import.meta.url), p], { encoding: 'utf8', maxBuffer: 1 << 20 });
      if (run.status !== 0) throw new Error(`${p} failed: ${run.stderr}`);
      const result = JSON.parse(run.stdout) as PartResult;
      const kept = best.get(p);
      if (!kept || result.seconds < kept.seconds) best.set(p, { ...result, peakRssMB: Math.max(result.peakRssMB, kept?.peakRssMB ?? 0) });
      else kept.peakRssMB = Math.max(kept.peakRssMB, result.peakRssMB);
    }
  }
  const results = ['read', 'infer', 'full'].map((p) => best.get(p)!);
  const [read, infer, full] = results;
  const bound = Math.max(read.seconds, infer.seconds);
  console.log(`bench:pipeline — synthetic 40000x30000 @0.25 MPP, cellularity ${full.variant}, batch ${full.batchSize}, ${full.tiles} tissue tiles of 224 px at 0.5 MPP; best of ${ROUNDS} rounds`);
  console.log(table([
    ['part', 'seconds', 'tiles/s', 'peak RSS MB'],
    ...results.map((r) => [r.part, r.seconds.toFixed(1), (r.tiles / r.seconds).toFixed(0), r.peakRssMB]),
  ]));
  console.log(`full / max(read-only, inference-only) = ${(full.seconds / bound).toFixed(2)} (goal <= 1.2); peak RSS ${full.peakRssMB} MB (goal < 1024)`);
  console.log(`seconds per slide: ${full.seconds.toFixed(0)} s here; FastPathology on CPU 145-268 s; the scanner delivers a slide every 117-210 s`);
  writeFileSync(path.join(outputDir(), 'pipeline.json'), JSON.stringify(results, null, 2));
}
