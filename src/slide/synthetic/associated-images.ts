/**
 * The label and macro images. Both carry the (fake) patient identity in their pixels, as real ones do:
 * the label shows name, accession number and a barcode; the macro photographs the whole glass, label
 * included. De-identification code is tested against exactly this.
 */
import { createCanvas, drawText, fillRect, fittingScale, GLYPH_HEIGHT, type Canvas } from './bitmap-font.ts';
import { hash32 } from './random.ts';

/** Sizes of CMU-1's label and macro, a typical Aperio scan. */
export const LABEL_SIZE = { width: 387, height: 463 } as const;
export const MACRO_SIZE = { width: 1280, height: 431 } as const;

type Rgb = readonly [number, number, number];
const PAPER: Rgb = [250, 249, 243];
const INK: Rgb = [24, 24, 32];
const FRAME: Rgb = [150, 150, 150];
const GLASS: Rgb = [212, 216, 220];

export function renderLabel(patientName: string, accession: string): Canvas {
  const { width, height } = LABEL_SIZE;
  const label = createCanvas(width, height, PAPER);
  const margin = 18;
  const inner = width - 2 * margin;
  for (const [x, y, w, h] of [[0, 0, width, 4], [0, height - 4, width, 4], [0, 0, 4, height], [width - 4, 0, 4, height]] as const) {
    fillRect(label, x, y, w, h, FRAME);
  }
  let y = margin;
  drawText(label, 'H&E', margin, y, 3, INK);
  y += GLYPH_HEIGHT * 3 + 18;
  const nameScale = fittingScale(patientName, inner, 5);
  drawText(label, patientName, margin, y, nameScale, INK);
  y += GLYPH_HEIGHT * nameScale + 16;
  const accessionScale = fittingScale(accession, inner, 5);
  drawText(label, accession, margin, y, accessionScale, INK);
  y += GLYPH_HEIGHT * accessionScale + 24;
  const barcodeHeight = Math.max(40, height - y - margin - GLYPH_HEIGHT * 2 - 10);
  drawFakeBarcode(label, accession, margin, y, inner, barcodeHeight);
  drawText(label, accession, margin, y + barcodeHeight + 8, fittingScale(accession, inner, 2), INK);
  return label;
}

/**
 * A barcode-looking pattern derived from the text (Code 128 proportions: bars and spaces of 1-4 modules,
 * start and stop patterns). Not decodable: it only has to look like, and be as identifying as, a barcode.
 */
function drawFakeBarcode(canvas: Canvas, text: string, x: number, y: number, width: number, height: number): void {
  const widths = [2, 1, 1, 2, 1, 4];
  for (const [index, char] of [...text].entries()) {
    for (let k = 0; k < 6; k++) widths.push(1 + (hash32(char.codePointAt(0) ?? 0, index, k) % 4));
  }
  widths.push(2, 3, 3, 1, 1, 1, 2);
  const modules = widths.reduce((a, b) => a + b, 0);
  const moduleWidth = Math.max(1, Math.floor(width / modules));
  let cursor = x + Math.max(0, Math.floor((width - modules * moduleWidth) / 2));
  widths.forEach((w, i) => {
    if (i % 2 === 0) fillRect(canvas, cursor, y, w * moduleWidth, height, INK);
    cursor += w * moduleWidth;
  });
}

/** Nearest-neighbour copy of `source` scaled into the rectangle (x, y, width, height) of `target`. */
function blitScaled(target: Canvas, source: Canvas, x: number, y: number, width: number, height: number): void {
  for (let row = 0; row < height; row++) {
    const sy = Math.min(source.height - 1, Math.floor(((row + 0.5) * source.height) / height));
    for (let col = 0; col < width; col++) {
      if (x + col < 0 || y + row < 0 || x + col >= target.width || y + row >= target.height) continue;
      const sx = Math.min(source.width - 1, Math.floor(((col + 0.5) * source.width) / width));
      const to = ((y + row) * target.width + x + col) * 3;
      source.pixels.copy(target.pixels, to, (sy * source.width + sx) * 3, (sy * source.width + sx) * 3 + 3);
    }
  }
}

/**
 * The glass slide seen from above: label at the left end, the scanned area with the tissue to its right.
 * `paintOverview(width, height)` renders the whole slide at that size.
 */
export function renderMacro(label: Canvas, slideAspect: number, paintOverview: (width: number, height: number) => Buffer): Canvas {
  const { width, height } = MACRO_SIZE;
  const macro = createCanvas(width, height, GLASS);
  const labelWidth = Math.round((height * LABEL_SIZE.width) / LABEL_SIZE.height);
  blitScaled(macro, label, 0, 0, labelWidth, height);
  const area = { x: labelWidth + 24, y: 20, width: width - labelWidth - 48, height: height - 40 };
  const fit = Math.min(area.width / slideAspect, area.height);
  const overviewWidth = Math.max(1, Math.round(fit * slideAspect));
  const overviewHeight = Math.max(1, Math.round(fit));
  const overview: Canvas = { width: overviewWidth, height: overviewHeight, pixels: paintOverview(overviewWidth, overviewHeight) };
  const ox = area.x + Math.floor((area.width - overviewWidth) / 2);
  const oy = area.y + Math.floor((area.height - overviewHeight) / 2);
  blitScaled(macro, overview, ox, oy, overviewWidth, overviewHeight);
  return macro;
}
