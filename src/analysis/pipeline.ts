import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { rgbBatchTensor, runBatch, type ModelManifest, type ModelSession } from '../models/index.ts';
import { openSlide, type RgbImage, type Slide } from '../slide/index.ts';
import { sha256File } from '../ingest/index.ts';
import { planGrid, type TileGrid } from './grid.ts';
import { heatmapGrid, renderHeatmapPng } from './heatmap.ts';
import { readOverview } from './overview.ts';
import { patchBatches } from './patches.ts';
import { topRegions, roisGeoJson, type Roi } from './rois.ts';
import { aggregate, patchScores, primaryOutput } from './scoring.ts';
import { detectTissue, writeMaskPng } from './tissue/index.ts';
import { resolveMpp, type MppSource } from './resolution.ts';

export interface AnalyzeOptions {
  session: ModelSession;
  batchSize: number;
  /** Where heatmap, GeoJSON, mask and result.json go; null keeps everything in memory. */
  outDir: string | null;
  /** Known content hash (ingest computed it); computed here when absent. */
  sha256?: string;
  readConcurrency?: number;
  /** Tiles decoded at once (the model selection's decodeThreads); unbounded when absent. */
  decodeThreads?: number;
  /** Used when the slide states neither MPP nor objective power. */
  defaultMpp?: number | null;
  /** Grid cells with less tissue than this share are not analysed. */
  minTissue?: number;
  roiCount?: number;
  overviewSide?: number;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

/** The analysis engine's result contract (see docs and `pathbox analyze --json`). */
export interface AnalysisResult {
  slide: { sha256: string; width: number; height: number; mpp: [number, number]; mppSource: MppSource };
  model: { id: string; version: string; releaseCounter: number; variant: string; digest: string; executionProvider: string; researchOnly: boolean };
  tissue: { fraction: number; areaMm2: number };
  tiles: { total: number; analyzed: number; tileSizePx: number; level: number };
  finding: { label: string; score: number; positive: boolean; method: string };
  rois: Roi[];
  outputs: { heatmap: string | null; heatmapGrid: string | null; geojson: string | null; tissueMask: string | null; overview: string | null };
  timings: { readMs: number; inferMs: number; totalMs: number };
  notes: string[];
  status: 'preliminary';
}

/**
 * One slide through the whole engine: tissue mask on an overview, a tile grid at the model's resolution,
 * tiles read in parallel while batches run through onnxruntime, aggregation, heatmap and regions.
 */
export async function analyzeSlide(file: string, options: AnalyzeOptions): Promise<AnalysisResult> {
  const started = performance.now();
  const hashing = options.sha256 ? Promise.resolve(options.sha256) : sha256File(file);
  hashing.catch(() => {});
  // Grid patches share their border tiles with their neighbours: cache each tile on its first decode.
  const slide = await openSlide(file, { decodeThreads: options.decodeThreads, cacheAdmission: 'first-request' });
  try {
    return await analyzeOpenSlide(slide, options, started, hashing);
  } finally {
    await slide.close();
  }
}

async function analyzeOpenSlide(slide: Slide, options: AnalyzeOptions, started: number, hashing: Promise<string>): Promise<AnalysisResult> {
  const { session } = options;
  const manifest = session.manifest;
  const meta = slide.metadata;
  const notes: string[] = [];
  const { mpp, overview, mask, grid } = await planAnalysis(slide, manifest, options);
  if (mpp.source !== 'file') notes.push(mpp.note);
  if (grid.tiles.length === 0) notes.push('no tissue found: nothing was analysed');

  const output = primaryOutput(manifest);
  const { tileScores, readMs, inferMs } = await scoreTiles(slide, grid, session, options);

  const cellScores = new Float32Array(grid.cols * grid.rows).fill(Number.NaN);
  grid.tiles.forEach((tile, i) => (cellScores[tile.index] = tileScores[i]));
  const finding = grid.tiles.length === 0
    ? { label: 'no tissue detected', score: 0, positive: false, method: 'none' }
    : aggregate(manifest, tileScores);
  const rois = topRegions(grid.tiles, tileScores, grid.tileSize0, meta, options.roiCount ?? 10);
  const heatmap = heatmapGrid(grid, cellScores, meta.width, meta.height);
  const modelLabel = `${manifest.id} ${manifest.version}`;
  const outputs = { heatmap: null, heatmapGrid: null, geojson: null, tissueMask: null, overview: null } as AnalysisResult['outputs'];
  if (options.outDir) {
    await mkdir(options.outDir, { recursive: true });
    const put = async (name: string, data: Buffer | string) => {
      await writeFile(path.join(options.outDir!, name), data);
      return name;
    };
    outputs.heatmap = await put('heatmap.png', await renderHeatmapPng(heatmap));
    outputs.heatmapGrid = await put('heatmap.json', JSON.stringify(heatmap));
    outputs.geojson = await put('rois.geojson', JSON.stringify(roisGeoJson(rois, output.positiveClass, modelLabel)));
    await writeMaskPng(mask, path.join(options.outDir, 'tissue-mask.png'));
    outputs.tissueMask = 'tissue-mask.png';
    outputs.overview = await put('overview.jpg', await sharp(overview.image.data, { raw: { width: overview.image.width, height: overview.image.height, channels: 3 } }).jpeg({ quality: 85 }).toBuffer());
  }
  const variant = session.variant;
  const result: AnalysisResult = {
    slide: { sha256: await hashing, width: meta.width, height: meta.height, mpp: mpp.value, mppSource: mpp.source },
    model: {
      id: manifest.id, version: manifest.version, releaseCounter: manifest.releaseCounter, variant: variant.name,
      digest: `sha256:${variant.sha256}`, executionProvider: session.executionProvider, researchOnly: manifest.researchOnly,
    },
    tissue: { fraction: round(mask.fraction, 4), areaMm2: round((mask.fraction * meta.width * meta.height * mpp.value[0] * mpp.value[1]) / 1e6, 3) },
    tiles: { total: grid.cols * grid.rows, analyzed: grid.tiles.length, tileSizePx: grid.tileSize0, level: grid.level },
    finding: { ...finding, score: round(finding.score, 4) },
    rois,
    outputs,
    timings: { readMs: Math.round(readMs), inferMs: Math.round(inferMs), totalMs: Math.round(performance.now() - started) },
    notes,
    status: 'preliminary',
  };
  if (options.outDir) await writeFile(path.join(options.outDir, 'result.json'), JSON.stringify(result, null, 2));
  return result;
}

/**
 * Every tissue tile through the model: tiles read in parallel into batches while earlier batches run, and
 * each batch's tensor made while the one before it runs, so inference never waits for the main thread.
 */
async function scoreTiles(slide: Slide, grid: TileGrid, session: ModelSession, options: AnalyzeOptions) {
  const output = primaryOutput(session.manifest);
  const tileScores = new Float32Array(grid.tiles.length);
  const readConcurrency = options.readConcurrency ?? 4;
  let readMs = 0;
  let inferMs = 0;
  let done = 0;
  let running: Promise<void> = Promise.resolve();
  options.onProgress?.(0, grid.tiles.length);
  try {
    for await (const batch of patchBatches(slide, grid, {
      inputSize: session.manifest.input.size.width,
      batchSize: options.batchSize,
      readConcurrency,
      maxReadyBatches: 2,
      signal: options.signal,
      onReadTime: (ms) => (readMs += ms / readConcurrency),
    })) {
      options.signal?.throwIfAborted();
      const n = batch.tiles.length;
      const tensor = rgbBatchTensor(session, batch.rgb, n);
      await running;
      const offset = done;
      done += n;
      const inferStart = performance.now();
      running = runBatch(session, tensor, n, { handOver: true }).then((outputs) => {
        inferMs += performance.now() - inferStart;
        tileScores.set(patchScores(output, outputs[output.name], n), offset);
        options.onProgress?.(offset + n, grid.tiles.length);
      });
    }
    await running;
  } finally {
    // A failed read or an abort leaves no batch running behind the caller's back (it may release the model).
    await running.catch(() => {});
  }
  return { tileScores, readMs, inferMs };
}

/** Resolution, tissue mask and tile grid of a slide for a model: everything decided before any tile is read. */
export async function planAnalysis(slide: Slide, manifest: ModelManifest, options: Pick<AnalyzeOptions, 'defaultMpp' | 'overviewSide' | 'minTissue'> = {}) {
  const mpp = resolveMpp(slide.metadata, options.defaultMpp ?? null);
  const overview = await readOverview(slide, options.overviewSide ?? 2048);
  const mask = detectTissue(await thumbnailForTissue(overview.image));
  const grid = planGrid(slide.metadata, mpp.value[0], { mpp: manifest.input.mpp, inputSize: manifest.input.size.width }, mask, options.minTissue ?? 0.2);
  return { mpp, overview, mask, grid };
}

/**
 * The detector's pixel sizes (pen-stroke gaps, margins, small objects) are set for thumbnails of about a
 * thousand pixels, HistoQC's, and its cost grows with every pixel: a larger overview is shrunk to that.
 */
const TISSUE_THUMBNAIL_SIDE = 1024;

async function thumbnailForTissue(image: RgbImage): Promise<RgbImage> {
  if (Math.max(image.width, image.height) <= TISSUE_THUMBNAIL_SIDE) return image;
  const { data, info } = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
    .resize(TISSUE_THUMBNAIL_SIDE, TISSUE_THUMBNAIL_SIDE, { fit: 'inside', kernel: 'linear' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, channels: 3, data };
}

const round = (v: number, digits: number) => Math.round(v * 10 ** digits) / 10 ** digits;
