import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { detectTissue, maskIoU, TissueError, writeMaskPng, type TissueMask } from '../../src/analysis/tissue/index.ts';
import { medianFilteredHistogram, otsuThreshold } from '../../src/analysis/tissue/filters.ts';
import { dilate, erode, fillSmallHoles, majority, removeSmallObjects } from '../../src/analysis/tissue/morphology.ts';
import type { RgbImage } from '../../src/slide/types.ts';
import { fixture, skipUnlessFixtures } from '../helpers/fixtures.ts';
import { Rng } from '../../src/slide/synthetic/random.ts';

// ---------- helpers ----------

/** Deterministic pseudo-random numbers (the project's mulberry32), so a failing case can be replayed. */
function random(seed: number): () => number {
  const rng = new Rng(seed);
  return () => rng.next();
}

function maskOf(width: number, height: number, data: Uint8Array): TissueMask {
  return { width, height, data, fraction: data.reduce((s, v) => s + v, 0) / data.length };
}

async function loadRgb(relative: string): Promise<RgbImage> {
  const { data, info } = await sharp(fixture(relative)).flatten({ background: '#ffffff' }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, channels: 3, data };
}

/** A reference mask PNG (white = marked) at the size of the image it describes. */
async function loadReferenceMask(relative: string, width: number, height: number): Promise<TissueMask> {
  const data = await sharp(fixture(relative)).extractChannel(0).resize(width, height, { kernel: 'nearest', fit: 'fill' }).raw().toBuffer();
  return maskOf(width, height, Uint8Array.from(data, (v) => (v > 127 ? 1 : 0)));
}

/** Share of the pixels marked in `reference` (restricted to `where` if given) that `mask` calls tissue. */
function shareMarkedAsTissue(mask: TissueMask, reference: TissueMask, where: (x: number, y: number) => boolean = () => true): number {
  let marked = 0;
  let tissue = 0;
  for (let i = 0; i < reference.data.length; i++) {
    if (!reference.data[i] || !where(i % reference.width, Math.floor(i / reference.width))) continue;
    marked++;
    tissue += mask.data[i];
  }
  assert.ok(marked > 0, 'the reference marks no pixel in the region');
  return tissue / marked;
}

/** Brute-force window count with the window clipped at the image edge (the oracle for morphology). */
function bruteWindow(mask: Uint8Array, w: number, h: number, r: number, keep: (count: number, area: number) => boolean): Uint8Array {
  const out = new Uint8Array(mask.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let count = 0;
      let area = 0;
      for (let yy = Math.max(0, y - r); yy <= Math.min(h - 1, y + r); yy++) {
        for (let xx = Math.max(0, x - r); xx <= Math.min(w - 1, x + r); xx++) {
          area++;
          count += mask[yy * w + xx];
        }
      }
      out[y * w + x] = keep(count, area) ? 1 : 0;
    }
  }
  return out;
}

/** Brute-force flood-fill components: sizes and border contact per pixel's component. */
function bruteComponents(mask: Uint8Array, w: number, h: number, value: number, eight: boolean): { size: Int32Array; border: Uint8Array } {
  const size = new Int32Array(mask.length);
  const border = new Uint8Array(mask.length);
  const seen = new Uint8Array(mask.length);
  for (let s = 0; s < mask.length; s++) {
    if (seen[s] || mask[s] !== value) continue;
    const members = [s];
    seen[s] = 1;
    for (let k = 0; k < members.length; k++) {
      const x = members[k] % w;
      const y = Math.floor(members[k] / w);
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          if ((!eight && dx !== 0 && dy !== 0) || (dx === 0 && dy === 0)) continue;
          const nx = x + dx;
          const ny = y + dy;
          const q = ny * w + nx;
          if (nx < 0 || ny < 0 || nx >= w || ny >= h || seen[q] || mask[q] !== value) continue;
          seen[q] = 1;
          members.push(q);
        }
      }
    }
    const touches = members.some((p) => p % w === 0 || p % w === w - 1 || p < w || p >= (h - 1) * w);
    for (const p of members) {
      size[p] = members.length;
      border[p] = touches ? 1 : 0;
    }
  }
  return { size, border };
}

function randomMask(w: number, h: number, density: number, seed: number): Uint8Array {
  const next = random(seed);
  return Uint8Array.from({ length: w * h }, () => (next() < density ? 1 : 0));
}

/**
 * A synthetic thumbnail: noisy glass, a pink-purple H&E ellipse, and a crimson marker stroke on the glass
 * beside it. Returns the image and the drawn ellipse and stroke as masks.
 */
function syntheticSlide(): { image: RgbImage; tissue: TissueMask; stroke: TissueMask } {
  const w = 240;
  const h = 160;
  const next = random(7);
  const data = Buffer.alloc(w * h * 3);
  const tissue = new Uint8Array(w * h);
  const stroke = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      const noise = () => Math.round((next() - 0.5) * 16);
      let rgb = [240, 240, 242];
      if (((x - 100) / 70) ** 2 + ((y - 80) / 55) ** 2 <= 1) {
        tissue[i] = 1;
        rgb = next() < 0.3 ? [120, 70, 160] : [220, 140, 190]; // nuclei (haematoxylin) among eosin
      } else if (Math.abs(x - 205 - (y - 80) * 0.2) < 6 && y > 15 && y < 145) {
        stroke[i] = 1;
        rgb = [215, 40, 75];
      }
      for (let c = 0; c < 3; c++) data[i * 3 + c] = Math.max(0, Math.min(255, rgb[c] + noise()));
    }
  }
  return { image: { width: w, height: h, channels: 3, data }, tissue: maskOf(w, h, tissue), stroke: maskOf(w, h, stroke) };
}

// ---------- building blocks against brute-force oracles ----------

test('medianFilteredHistogram equals a brute-force median with replicated borders', () => {
  const w = 23;
  const h = 17;
  const next = random(1);
  const src = Uint8Array.from({ length: w * h }, () => Math.floor(next() * 256));
  for (const [kernel, stride] of [[1, 1], [3, 1], [5, 3], [7, 2]]) {
    const expected = new Float64Array(256);
    const r = kernel >> 1;
    for (let y = 0; y < h; y += stride) {
      for (let x = 0; x < w; x++) {
        const window: number[] = [];
        for (let dy = -r; dy <= r; dy++) {
          for (let dx = -r; dx <= r; dx++) {
            window.push(src[Math.min(h - 1, Math.max(0, y + dy)) * w + Math.min(w - 1, Math.max(0, x + dx))]);
          }
        }
        window.sort((a, b) => a - b);
        expected[window[window.length >> 1]]++;
      }
    }
    assert.deepEqual(medianFilteredHistogram(src, w, h, kernel, stride), expected, `kernel ${kernel}, stride ${stride}`);
  }
});

test('otsuThreshold splits two clusters between them and returns a lone value', () => {
  const histogram = new Float64Array(256);
  histogram[10] = 500;
  histogram[12] = 300;
  histogram[150] = 200;
  histogram[160] = 400;
  const t = otsuThreshold(histogram);
  assert.ok(t >= 12 && t < 150, `threshold ${t} between the clusters`);
  const lone = new Float64Array(256);
  lone[77] = 9;
  assert.equal(otsuThreshold(lone), 77);
});

test('dilate, erode and majority equal brute-force clipped windows, also on images smaller than the window', () => {
  for (const [w, h] of [[31, 19], [4, 3], [1, 9], [40, 37]]) {
    const mask = randomMask(w, h, 0.45, w * 100 + h);
    for (const r of [1, 2, 3, 5, 8]) { // 8: windows over 255 pixels count in 16 bits
      assert.deepEqual(dilate(mask, w, h, r), bruteWindow(mask, w, h, r, (c) => c > 0), `dilate ${w}x${h} r${r}`);
      assert.deepEqual(erode(mask, w, h, r), bruteWindow(mask, w, h, r, (c, a) => c === a), `erode ${w}x${h} r${r}`);
      assert.deepEqual(majority(mask, w, h, r), bruteWindow(mask, w, h, r, (c, a) => 2 * c > a), `majority ${w}x${h} r${r}`);
    }
  }
});

test('removeSmallObjects (8-connected) and fillSmallHoles (4-connected, not at the border) match flood fill', () => {
  for (const seed of [3, 4, 5]) {
    const w = 40;
    const h = 30;
    const mask = randomMask(w, h, 0.5, seed);
    const objects = bruteComponents(mask, w, h, 1, true);
    const removed = mask.slice();
    removeSmallObjects(removed, w, h, 6);
    assert.deepEqual(removed, Uint8Array.from(mask, (v, i) => (v && objects.size[i] >= 6 ? 1 : 0)), `objects, seed ${seed}`);
    const holes = bruteComponents(mask, w, h, 0, false);
    const filled = mask.slice();
    fillSmallHoles(filled, w, h, 4);
    assert.deepEqual(filled, Uint8Array.from(mask, (v, i) => (v || (!holes.border[i] && holes.size[i] < 4) ? 1 : 0)), `holes, seed ${seed}`);
  }
});

// ---------- public helpers ----------

test('maskIoU: overlap, two empty masks, and a size mismatch', () => {
  const a = maskOf(4, 1, Uint8Array.from([1, 1, 1, 0]));
  const b = maskOf(4, 1, Uint8Array.from([0, 1, 1, 1]));
  assert.equal(maskIoU(a, b), 0.5);
  assert.equal(maskIoU(maskOf(2, 1, new Uint8Array(2)), maskOf(2, 1, new Uint8Array(2))), 1);
  assert.throws(() => maskIoU(a, maskOf(2, 2, new Uint8Array(4))), (e: unknown) => e instanceof TissueError && e.code === 'MASK_SIZE_MISMATCH' && /4x1 mask with a 2x2/.test(e.message));
  assert.throws(() => maskIoU(a, { width: 3, height: 3, data: new Uint8Array(2), fraction: 0 }), (e: unknown) => e instanceof TissueError && e.code === 'INVALID_MASK');
});

test('writeMaskPng writes a 0/255 PNG that reads back as the mask, and names the path it cannot write', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'pathbox-tissue-'));
  try {
    const mask = maskOf(5, 3, Uint8Array.from([1, 0, 0, 1, 1, 0, 1, 0, 1, 0, 0, 0, 1, 1, 1]));
    const file = path.join(dir, 'mask.png');
    await writeMaskPng(mask, file);
    const { width, height, channels } = await sharp(file).metadata();
    assert.deepEqual([width, height, channels], [5, 3, 1]);
    const data = await sharp(file).extractChannel(0).raw().toBuffer();
    assert.deepEqual(Uint8Array.from(data), Uint8Array.from(mask.data, (v) => v * 255));
    const missing = path.join(dir, 'no-such-dir', 'mask.png');
    await assert.rejects(writeMaskPng(mask, missing), (e: unknown) => e instanceof TissueError && e.code === 'IO' && e.message.includes(missing));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('detectTissue rejects a malformed image and bad or unknown options with a named reason', () => {
  const image: RgbImage = { width: 4, height: 4, channels: 3, data: Buffer.alloc(4 * 4 * 3, 255) };
  const invalid = (code: string, pattern: RegExp) => (e: unknown) => e instanceof TissueError && e.code === code && pattern.test(e.message);
  assert.throws(() => detectTissue({ ...image, data: Buffer.alloc(10) }), invalid('INVALID_IMAGE', /4x4 has 10 bytes, expected 48/));
  assert.throws(() => detectTissue({ ...image, width: 0 }), invalid('INVALID_IMAGE', /0x4/));
  assert.throws(() => detectTissue(image, { medianKernel: 4 }), invalid('INVALID_OPTIONS', /medianKernel must be an odd integer/));
  assert.throws(() => detectTissue(image, { darkGrey: 240, brightGrey: 200 }), invalid('INVALID_OPTIONS', /darkGrey/));
  assert.throws(() => detectTissue(image, { saturationThresholdRange: [40, 20] }), invalid('INVALID_OPTIONS', /saturationThresholdRange/));
  assert.throws(() => detectTissue(image, { penFliter: false } as never), invalid('INVALID_OPTIONS', /unknown tissue option "penFliter"/));
});

test('synthetic slide: the tissue ellipse is found, the marker stroke and noisy glass are not', () => {
  const { image, tissue, stroke } = syntheticSlide();
  const mask = detectTissue(image);
  assert.ok(maskIoU(mask, tissue) >= 0.95, `IoU with the drawn ellipse ${maskIoU(mask, tissue).toFixed(3)}`);
  assert.equal(shareMarkedAsTissue(mask, stroke), 0);
  // Without the pen filter the stroke is saturated, mid-grey "tissue": it is the filter that rejects it.
  assert.ok(shareMarkedAsTissue(detectTissue(image, { penFilter: false }), stroke) > 0.9);
  const glass = detectTissue({ ...image, data: Buffer.from(image.data.map((v, i) => 240 + ((i * 7919) % 9))) });
  assert.equal(glass.fraction, 0);
});

// ---------- real references (HistoQC, histolab) ----------

test('TCGA thumbnail: IoU with HistoQC usable-tissue mask >= 0.88', { skip: skipUnlessFixtures('thumbnails/tcga-ej-5509-thumb.png', 'thumbnails/tcga-ej-5509-histoqc-tissue-mask.png') }, async (t) => {
  const image = await loadRgb('thumbnails/tcga-ej-5509-thumb.png');
  const reference = await loadReferenceMask('thumbnails/tcga-ej-5509-histoqc-tissue-mask.png', image.width, image.height);
  const mask = detectTissue(image);
  const iou = maskIoU(mask, reference);
  t.diagnostic(`TCGA-EJ-5509 IoU vs HistoQC mask_use: ${iou.toFixed(4)} (tissue ${mask.fraction.toFixed(3)}, HistoQC ${reference.fraction.toFixed(3)})`);
  assert.ok(iou >= 0.88, `IoU ${iou.toFixed(4)} < 0.88`);
  // No ink on this slide: the pen filter must not touch a single pixel.
  assert.deepEqual(detectTissue(image, { penFilter: false }).data, mask.data);
});

test('red pen: the ink HistoQC marks is rejected, and no tissue away from it is lost', { skip: skipUnlessFixtures('thumbnails/pen-red.png', 'thumbnails/pen-red-mask.png') }, async (t) => {
  const image = await loadRgb('thumbnails/pen-red.png');
  // HistoQC's pen_markings training mask: the saturated cores of the red strokes (left bar, top and
  // right arcs, the arc crossing the tissue's lower edge), not their pale rims. Where a stroke lies on
  // tissue the pixel is ink over tissue, so a detector that keeps ink out should call almost none of
  // these tissue. 6% leaves room for stroke ends fading into tissue (we measure ~3.5%); without the
  // filter ~all are tissue, so the bound tests the filter, not the background rule.
  const pen = await loadReferenceMask('thumbnails/pen-red-mask.png', image.width, image.height);
  const mask = detectTissue(image);
  const unfiltered = detectTissue(image, { penFilter: false });
  const inkAsTissue = shareMarkedAsTissue(mask, pen);
  const inkAsTissueUnfiltered = shareMarkedAsTissue(unfiltered, pen);
  t.diagnostic(`pen-red: ${(100 * inkAsTissue).toFixed(2)}% of HistoQC pen pixels called tissue (${(100 * inkAsTissueUnfiltered).toFixed(1)}% without the pen filter); tissue ${mask.fraction.toFixed(3)}; IoU with pen mask ${maskIoU(mask, pen).toFixed(4)}`);
  assert.ok(inkAsTissue <= 0.06, `${(100 * inkAsTissue).toFixed(2)}% of pen pixels called tissue`);
  assert.ok(inkAsTissueUnfiltered > 0.9);
  // Everything the filter removes lies within 10 px of a marked stroke.
  const nearPen = dilate(pen.data, image.width, image.height, 10);
  let removedFarFromPen = 0;
  for (let i = 0; i < mask.data.length; i++) if (unfiltered.data[i] && !mask.data[i] && !nearPen[i]) removedFarFromPen++;
  assert.equal(removedFarFromPen, 0);
});

test('coverslip edge: the edge over glass is never tissue, and only where it crosses tissue is it kept', { skip: skipUnlessFixtures('thumbnails/coverslip-edge.png', 'thumbnails/coverslip-edge-mask.png') }, async (t) => {
  const image = await loadRgb('thumbnails/coverslip-edge.png');
  // HistoQC's coverslip_edge training mask marks the edge's dark lines. Over the top 40% of the image only
  // glass lies under them; lower down the edge runs over the tissue's left tip, whose stain shows through.
  const edge = await loadReferenceMask('thumbnails/coverslip-edge-mask.png', image.width, image.height);
  const mask = detectTissue(image);
  const overGlass = (_x: number, y: number) => y < 0.4 * image.height;
  const all = shareMarkedAsTissue(mask, edge);
  const top = shareMarkedAsTissue(mask, edge, overGlass);
  const withoutDarkRule = shareMarkedAsTissue(detectTissue(image, { darkGrey: 0 }), edge);
  t.diagnostic(`coverslip: ${(100 * all).toFixed(2)}% of edge pixels called tissue (${(100 * top).toFixed(2)}% in the top 40%, ${(100 * withoutDarkRule).toFixed(2)}% without the dark-artefact rule); IoU with edge mask ${maskIoU(mask, edge).toFixed(4)} (the mask marks an artefact, so ~0 is right); tissue ${mask.fraction.toFixed(3)}`);
  assert.equal(top, 0);
  assert.ok(all <= 0.2, `${(100 * all).toFixed(2)}% of edge pixels called tissue`);
  assert.ok(withoutDarkRule > all, 'the dark-artefact rule removes edge pixels over tissue');
  assert.deepEqual(detectTissue(image, { penFilter: false }).data, mask.data, 'no ink on this slide');
});

/**
 * histolab tiles, looked at one by one. `stained` is the share of pixels darker than grey 215, a crude
 * independent measure of where stain is; tissue tiles must agree with it within 0.15.
 */
const TILES: { file: string; expect: 'empty' | 'sliver' | 'tissue'; note: string }[] = [
  { file: 'almost-white-1.png', expect: 'empty', note: 'clean glass' },
  { file: 'almost-white-2.png', expect: 'sliver', note: 'glass with a ~2% wisp of tissue in the top-right corner' },
  { file: 'almost-white-ihc.png', expect: 'empty', note: 'glass with one dust speck' },
  { file: 'kidney-ihc-level0-310-500-360-530.png', expect: 'tissue', note: 'grey-blue IHC tissue, glass at the top' },
  { file: 'kidney-ihc-level0-330-480-380-510.png', expect: 'tissue', note: 'glass, tissue in the bottom third' },
  { file: 'kidney-ihc-level0-340-520-390-550.png', expect: 'tissue', note: 'tissue nearly everywhere' },
  { file: 'kidney-ihc-level0-350-530-360-540.png', expect: 'tissue', note: '10x10, all tissue' },
  { file: 'liver-level2-10907-7808-11707-8608.png', expect: 'tissue', note: 'all tissue' },
  { file: 'liver-level2-20914-13715-21714-14515.png', expect: 'tissue', note: 'a tissue strip along the top' },
  { file: 'liver-level2-38626-13514-39426-14315.png', expect: 'empty', note: 'named liver but blank glass' },
  { file: 'liver-level2-57138-8209-57938-9009.png', expect: 'tissue', note: 'tissue, glass at the bottom' },
];

test('histolab tiles: glass gives no tissue, tissue tiles give the stained share', { skip: skipUnlessFixtures(...TILES.map((tile) => `tiles/${tile.file}`)) }, async (t) => {
  for (const tile of TILES) {
    const image = await loadRgb(`tiles/${tile.file}`);
    const mask = detectTissue(image);
    let stainedPixels = 0;
    for (let o = 0; o < image.data.length; o += 3) if (image.data[o] + image.data[o + 1] + image.data[o + 2] < 3 * 215) stainedPixels++;
    const stained = stainedPixels / (image.width * image.height);
    t.diagnostic(`${tile.file} (${tile.note}): tissue ${mask.fraction.toFixed(3)}, stained ${stained.toFixed(3)}`);
    if (tile.expect === 'empty') assert.ok(mask.fraction <= 0.01, `${tile.file}: ${mask.fraction}`);
    else if (tile.expect === 'sliver') assert.ok(mask.fraction <= 0.05, `${tile.file}: ${mask.fraction}`);
    else {
      assert.ok(mask.fraction >= 0.1, `${tile.file}: ${mask.fraction}`);
      assert.ok(Math.abs(mask.fraction - stained) <= 0.15, `${tile.file}: tissue ${mask.fraction} vs stained ${stained}`);
    }
  }
});

test('2000x2000 thumbnail: time reported next to libvips median 7x7 on the same image (measured, not asserted)', { skip: skipUnlessFixtures('thumbnails/coverslip-edge.png') }, async (t) => {
  const { data } = await sharp(fixture('thumbnails/coverslip-edge.png')).removeAlpha().resize(2000, 2000, { fit: 'fill' }).raw().toBuffer({ resolveWithObject: true });
  const image: RgbImage = { width: 2000, height: 2000, channels: 3, data };
  const ours: string[] = [];
  const reference: string[] = [];
  let fraction = 0;
  for (let run = 0; run < 3; run++) {
    const wall = performance.now();
    const cpu = process.cpuUsage();
    fraction = detectTissue(image).fraction;
    const used = process.cpuUsage(cpu);
    ours.push(`${(performance.now() - wall).toFixed(0)} ms (cpu ${((used.user + used.system) / 1000).toFixed(0)})`);
    const start = performance.now();
    await sharp(data, { raw: { width: 2000, height: 2000, channels: 3 } }).median(7).raw().toBuffer();
    reference.push(`${(performance.now() - start).toFixed(0)} ms`);
  }
  t.diagnostic(`2000x2000 detectTissue: ${ours.join(', ')}; libvips median 7x7 alone: ${reference.join(', ')}; tissue ${fraction.toFixed(3)}`);
  assert.ok(fraction > 0.2 && fraction < 0.8);
});
