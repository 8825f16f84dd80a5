/**
 * npm run bench:read — random 512x512 level-0 regions from a synthetic 40x slide and from
 * CMU-1-Small-Region.svs, 1 and 2 reads in flight, beside (same run, same regions) OpenSlide and the
 * decode-only limit (decoding exactly the touched tiles from memory, nothing else), each after a warm-up
 * on other regions and each the best of PATHBOX_BENCH_ROUNDS passes (2). Also the viewer's
 * raw-JPEG tile path against decode + re-encode.
 */
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { openSlide, type Slide } from '../src/slide/index.ts';
import { decodeJpeg, encodeJpeg, jpegCodec } from '../src/slide/codecs/jpeg.ts';
import { writeSyntheticSlide } from '../src/slide/synthetic/index.ts';
import { ensureOpenSlide, fileExists, fixturesDir, outputDir, progress, runPython, seededRandom, table, timed, syntheticReferenceSlide } from './support.ts';

const REGION = 512;
const REGIONS = Number(process.env.PATHBOX_BENCH_REGIONS ?? 300);
/** Passes per reader; each keeps its fastest, so a burst of someone else's load spoils one pass, not the comparison. */
const ROUNDS = Number(process.env.PATHBOX_BENCH_ROUNDS ?? 2);
/** Regions read before each timed pass (other ones, through another handle), so no reader is timed cold. */
const WARMUP_REGIONS = 40;
type Region = [number, number, number, number];

function randomRegions(width: number, height: number, seed: number, count = REGIONS): Region[] {
  const random = seededRandom(seed);
  return Array.from({ length: count }, () => [
    Math.floor(random() * (width - REGION)), Math.floor(random() * (height - REGION)), REGION, REGION,
  ] as Region);
}

/** The complete JPEGs of the tiles each region touches, read into memory before timing. */
async function touchedTiles(slide: Slide, regions: Region[]): Promise<Buffer[][]> {
  const { tileWidth, tileHeight, width, height } = slide.metadata.levels[0];
  const out: Buffer[][] = [];
  for (const [x, y, w, h] of regions) {
    const tiles: Buffer[] = [];
    for (let row = Math.floor(y / tileHeight); row <= Math.min(Math.ceil(height / tileHeight), Math.ceil((y + h) / tileHeight)) - 1; row++) {
      for (let col = Math.floor(x / tileWidth); col <= Math.min(Math.ceil(width / tileWidth), Math.ceil((x + w) / tileWidth)) - 1; col++) {
        const raw = await slide.readRawJpegTile(0, col, row);
        if (raw) tiles.push(raw.data);
      }
    }
    out.push(tiles);
  }
  return out;
}

interface Row { slide: string; inFlight: number; reader: string; seconds: number }

async function measure(name: string, file: string, regions: Region[], warmup: Region[], haveOpenSlide: boolean): Promise<Row[]> {
  const rows: Row[] = [];
  const probe = await openSlide(file);
  const tiles = await touchedTiles(probe, regions);
  const warmupTiles = await touchedTiles(probe, warmup);
  await probe.close();
  const readAll = async (items: Region[], inFlight: number) => {
    const slide = await openSlide(file); // fresh: no tiles cached from an earlier pass
    const seconds = await timed(items, inFlight, ([x, y, w, h]) => slide.readRegion(0, x, y, w, h));
    await slide.close();
    return seconds;
  };
  const decodeAll = (touched: Buffer[][], inFlight: number) => timed(touched, inFlight, (regionTiles) => Promise.all(regionTiles.map((t) => decodeJpeg(t))));
  for (const inFlight of [1, 2]) {
    // The readers take turns, ROUNDS times, each keeping its fastest pass.
    const best = new Map<string, number>();
    const keep = (reader: string, seconds: number) => best.set(reader, Math.min(seconds, best.get(reader) ?? Infinity));
    for (let round = 1; round <= ROUNDS; round++) {
      progress(`${name}: ${regions.length} regions, ${inFlight} in flight, round ${round} of ${ROUNDS} ...`);
      await readAll(warmup, inFlight);
      keep('pathbox', await readAll(regions, inFlight));
      await decodeAll(warmupTiles, inFlight);
      keep('decode-only', await decodeAll(tiles, inFlight));
      if (haveOpenSlide) keep('openslide', runPython<{ seconds: number }>('openslide-reference.py', { file, regions, warmup, inFlight }).seconds);
    }
    for (const [reader, seconds] of best) rows.push({ slide: name, inFlight, reader, seconds });
  }
  return rows;
}

/** Tiles/s of the viewer path: stored JPEG spliced and served, against decode + JPEG re-encode. */
async function viewerPath(file: string): Promise<{ raw: number; reencode: number }> {
  const slide = await openSlide(file);
  const { width, height, tileWidth, tileHeight } = slide.metadata.levels[0];
  const cols = Math.ceil(width / tileWidth);
  const rows = Math.ceil(height / tileHeight);
  const random = seededRandom(11);
  const picks = Array.from({ length: 400 }, () => [Math.floor(random() * cols), Math.floor(random() * rows)] as [number, number]);
  const rawSeconds = await timed(picks, 2, ([c, r]) => slide.readRawJpegTile(0, c, r));
  await slide.close();
  const fresh = await openSlide(file);
  const reencodeSeconds = await timed(picks, 2, async ([c, r]) => {
    const image = await fresh.readRegion(0, c * tileWidth, r * tileHeight, tileWidth, tileHeight);
    return encodeJpeg(image, 80);
  });
  await fresh.close();
  return { raw: picks.length / rawSeconds, reencode: picks.length / reencodeSeconds };
}

const haveOpenSlide = ensureOpenSlide();
if (!haveOpenSlide) progress('OpenSlide is not available: its column stays empty');
const synthetic = await syntheticReferenceSlide();
const cmu = path.join(fixturesDir, 'slides', 'CMU-1-Small-Region.svs');
const syntheticSlideHandle = await openSlide(synthetic);
const syntheticMeta = syntheticSlideHandle.metadata;
await syntheticSlideHandle.close();
const rows = await measure('synthetic 40x', synthetic, randomRegions(syntheticMeta.width, syntheticMeta.height, 1), randomRegions(syntheticMeta.width, syntheticMeta.height, 101, WARMUP_REGIONS), haveOpenSlide);
if (fileExists(cmu)) rows.push(...(await measure('CMU-1-Small-Region', cmu, randomRegions(2220, 2967, 2), randomRegions(2220, 2967, 102, WARMUP_REGIONS), haveOpenSlide)));
else progress(`${cmu} is missing: CMU-1 rows skipped`);

const mpx = (seconds: number) => (REGIONS * REGION * REGION) / seconds / 1e6;
const lines: (string | number)[][] = [['slide', 'in flight', 'reader', 'ms/region', 'Mpx/s', 'vs OpenSlide', 'of decode-only']];
for (const row of rows) {
  const find = (reader: string) => rows.find((r) => r.slide === row.slide && r.inFlight === row.inFlight && r.reader === reader);
  const openslide = find('openslide');
  const limit = find('decode-only')!;
  lines.push([
    row.slide, row.inFlight, row.reader, ((row.seconds * 1000) / REGIONS).toFixed(2), mpx(row.seconds).toFixed(1),
    openslide ? `${(openslide.seconds / row.seconds).toFixed(2)}x` : '-',
    `${((limit.seconds / row.seconds) * 100).toFixed(0)}%`,
  ]);
}
const viewer = await viewerPath(synthetic);
console.log(`bench:read — ${REGIONS} random ${REGION}x${REGION} level-0 regions per slide, JPEG codec ${jpegCodec}, best of ${ROUNDS} passes each (x OpenSlide = its time / this reader's time)`);
console.log(table(lines));
console.log(`viewer tiles (synthetic, 2 in flight): raw JPEG path ${viewer.raw.toFixed(0)} tiles/s, decode+re-encode ${viewer.reencode.toFixed(0)} tiles/s (${(viewer.raw / viewer.reencode).toFixed(1)}x)`);
writeFileSync(path.join(outputDir(), 'read.json'), JSON.stringify({ regions: REGIONS, rows, viewer }, null, 2));
