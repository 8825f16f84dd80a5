import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import type { AnalysisResult } from '../analysis/index.ts';
import { builtInBundleDir, ModelRegistry, readBundleManifest } from '../models/index.ts';
import { openSlide, type Slide } from '../slide/index.ts';
import { SyncStore, type OutboxMessage, type SecondOpinionRow, type SlideRow, type Store } from '../store/index.ts';
import type { MqttConfig } from './config.ts';
import { deidentifiedResult, topics, type SecondOpinionRequestPayload } from './messages.ts';
import { encodeChunk, encodePackage, splitChunks, type PackageFile } from './wire.ts';

export type SecondOpinionErrorCode = 'NO_SLIDE' | 'NO_RESULT' | 'OUTPUTS_MISSING' | 'MODEL_UNKNOWN' | 'NOTE_IDENTIFYING' | 'NOTE_TOO_LONG';

export class SecondOpinionError extends Error {
  override name = 'SecondOpinionError';
  readonly code: SecondOpinionErrorCode;
  constructor(code: SecondOpinionErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

export interface SecondOpinionRequest {
  store: Store;
  deviceId: string;
  /** A slide id, or its SHA-256. */
  slide: string;
  note: string | null;
  requestedBy: string;
  /** The data folder's installed models (the result's model version is looked up there, then built-ins). */
  modelsDir: string;
  options: MqttConfig['secondOpinion'];
}

/** The long side of Aperio's own thumbnails: enough to place the regions, small on a thin line. */
const THUMBNAIL_SIDE = 768;
const NOTE_MAX = 2000;

/**
 * Builds a second-opinion package from a slide's latest result and queues it (request message, then its
 * chunks) in the outbox's bulk lane, with the request row, in one transaction. The package holds only
 * pixels read from the slide's pyramid (never its label or macro), images re-encoded here (no metadata),
 * and the allow-listed result.
 */
export async function requestSecondOpinion(request: SecondOpinionRequest): Promise<SecondOpinionRow> {
  const { store, deviceId } = request;
  const slide = findSlide(store, request.slide);
  const stored = store.latestResult(slide.id);
  if (!stored) throw new SecondOpinionError('NO_RESULT', `slide ${slide.id} has no analysis result yet (state: ${slide.state})`);
  const result = stored.result as AnalysisResult;
  if (!stored.outputDir) throw new SecondOpinionError('OUTPUTS_MISSING', `slide ${slide.id}'s result kept no output folder (overview and heatmap are needed)`);
  const modelMpp = await modelResolution(result.model, request.modelsDir);

  const opened = await openSlide(slide.path);
  let files: PackageFile[];
  try {
    checkNote(request.note, slide, opened);
    files = [
      ...(await regionImages(opened, result, modelMpp, request.options.regions)),
      { name: 'thumbnail.jpg', mediaType: 'image/jpeg', data: await thumbnail(path.join(stored.outputDir, 'overview.jpg')) },
      { name: 'heatmap.png', mediaType: 'image/png', data: await heatmapImage(path.join(stored.outputDir, 'heatmap.png')) },
      { name: 'result.json', mediaType: 'application/json', data: Buffer.from(JSON.stringify(deidentifiedResult(result))) },
    ];
  } finally {
    await opened.close();
  }

  const requestId = randomUUID();
  const { manifest, blob } = encodePackage(files);
  const chunkBytes = request.options.chunkKiB * 1024;
  const chunks = splitChunks(blob, chunkBytes);
  const topic = topics(deviceId).secondOpinionRequest;
  const header: SecondOpinionRequestPayload = {
    type: 'second-opinion.request',
    idempotencyKey: `second-opinion:${requestId}:request`,
    requestId,
    deviceId,
    requestedAt: new Date().toISOString(),
    note: request.note,
    slide: { sha256: result.slide.sha256, width: result.slide.width, height: result.slide.height, mpp: result.slide.mpp },
    result: { finding: { label: result.finding.label, score: result.finding.score }, model: { id: result.model.id, version: result.model.version } },
    package: { ...manifest, chunkBytes, chunks: chunks.length },
  };
  const parts: OutboxMessage[] = [
    { topic, payload: JSON.stringify(header), idempotencyKey: header.idempotencyKey },
    ...chunks.map((data, index) => {
      const idempotencyKey = `second-opinion:${requestId}:${index}`;
      return { topic, payload: encodeChunk({ idempotencyKey, requestId, index, chunks: chunks.length, offset: index * chunkBytes }, data), idempotencyKey };
    }),
  ];
  return new SyncStore(store).addSecondOpinion({
    requestId, slideId: slide.id, resultId: stored.id, note: request.note, requestedBy: request.requestedBy, packageBytes: blob.length, packageSha256: manifest.sha256,
  }, parts);
}

function findSlide(store: Store, ref: string): SlideRow {
  const slide = /^\d+$/.test(ref) ? store.getSlide(Number(ref)) : store.getSlideBySha(ref.toLowerCase());
  if (!slide) throw new SecondOpinionError('NO_SLIDE', `no slide ${ref} (give a slide id from pathbox slides list, or its full SHA-256)`);
  return slide;
}

/** Microns per pixel the result's model reads patches at, from its manifest (installed, else built in). */
async function modelResolution(model: AnalysisResult['model'], modelsDir: string): Promise<number> {
  const candidates = [new ModelRegistry(modelsDir).bundleDir(model.id, model.version)];
  try {
    candidates.push(builtInBundleDir(model.id));
  } catch {
    // not a built-in model: only the installed bundle can say
  }
  for (const dir of candidates) {
    const manifest = await readBundleManifest(dir).catch(() => null);
    if (manifest?.id === model.id && manifest.version === model.version) return manifest.input.mpp;
  }
  throw new SecondOpinionError('MODEL_UNKNOWN', `model ${model.id} ${model.version} that produced the result is no longer on the box (its resolution is needed)`);
}

/**
 * A note is free text that leaves the box, so it must not repeat what identifies the slide: its file
 * name (accession numbers live there) or any text from the slide's own metadata.
 */
function checkNote(note: string | null, slide: SlideRow, opened: Slide): void {
  if (note === null) return;
  if (note.length > NOTE_MAX) throw new SecondOpinionError('NOTE_TOO_LONG', `the note has ${note.length} characters; at most ${NOTE_MAX}`);
  const text = note.toLowerCase();
  const base = path.basename(slide.path, path.extname(slide.path));
  const fileWords = [base, ...base.split(/[\s_.]+/)].filter((w) => w.length >= 4);
  const metadataValues = Object.entries(opened.metadata.properties)
    .filter(([key]) => !key.startsWith('openslide.') && !key.startsWith('tiff.'))
    .map(([, value]) => value.trim())
    .filter((value) => value.length >= 4 && /[a-z]/i.test(value));
  if (fileWords.some((w) => text.includes(w.toLowerCase()))) {
    throw new SecondOpinionError('NOTE_IDENTIFYING', 'the note repeats part of the slide\'s file name (an accession number?); describe the question without it');
  }
  if (metadataValues.some((v) => text.includes(v.toLowerCase()))) {
    throw new SecondOpinionError('NOTE_IDENTIFYING', 'the note repeats text from the slide\'s metadata; describe the question without it');
  }
}

/** The top regions as the model saw them: read from the pyramid at the model's MPP (never finer than the scan). */
async function regionImages(slide: Slide, result: AnalysisResult, modelMpp: number, count: number): Promise<PackageFile[]> {
  const slideMpp = result.slide.mpp[0];
  const scale = Math.min(1, slideMpp / modelMpp); // output pixels per level-0 pixel
  const levels = slide.metadata.levels;
  let level = 0;
  levels.forEach((l, i) => {
    if (l.downsample <= (1 / scale) * 1.01 && l.downsample > levels[level].downsample) level = i;
  });
  const downsample = levels[level].downsample;
  const files: PackageFile[] = [];
  for (const [i, roi] of result.rois.slice(0, count).entries()) {
    const width = Math.max(1, Math.round(roi.width * scale));
    const height = Math.max(1, Math.round(roi.height * scale));
    const pixels = await slide.readRegion(level, roi.x, roi.y, Math.max(1, Math.round(roi.width / downsample)), Math.max(1, Math.round(roi.height / downsample)));
    const data = await sharp(pixels.data, { raw: { width: pixels.width, height: pixels.height, channels: 3 } })
      .resize(width, height, { fit: 'fill' })
      .jpeg({ quality: 80, mozjpeg: true })
      .toBuffer();
    files.push({
      name: `region-${String(i + 1).padStart(2, '0')}.jpg`, mediaType: 'image/jpeg', data,
      region: { rank: i + 1, x: roi.x, y: roi.y, width: roi.width, height: roi.height, score: roi.score, mpp: Math.round((slideMpp / scale) * 1e4) / 1e4 },
    });
  }
  return files;
}

async function thumbnail(overviewFile: string): Promise<Buffer> {
  const overview = await readOutput(overviewFile);
  return sharp(overview).resize(THUMBNAIL_SIDE, THUMBNAIL_SIDE, { fit: 'inside', withoutEnlargement: true }).jpeg({ quality: 70, mozjpeg: true }).toBuffer();
}

/** Re-encoded (palette PNG): smaller, and nothing but pixels survives (no text chunks). */
async function heatmapImage(heatmapFile: string): Promise<Buffer> {
  return sharp(await readOutput(heatmapFile)).png({ palette: true, compressionLevel: 9 }).toBuffer();
}

async function readOutput(file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (e) {
    throw new SecondOpinionError('OUTPUTS_MISSING', `analysis output ${path.basename(file)} is missing (${(e as NodeJS.ErrnoException).code}); re-run the analysis (pathbox slides retry)`);
  }
}
