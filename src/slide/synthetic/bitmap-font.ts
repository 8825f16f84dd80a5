/**
 * A built-in 5x7 bitmap font (CI machines have no system fonts), enough for label text: upper-case
 * letters, digits and the punctuation of names and accession numbers. Lower case is drawn upper case;
 * anything else is drawn as '?'.
 */

/** Seven rows per glyph, two hex digits each, bit 4 = leftmost column. */
const GLYPHS: Record<string, string> = {
  A: '0e11111f111111', B: '1e11111e11111e', C: '0e11101010110e', D: '1c12111111121c', E: '1f10101e10101f',
  F: '1f10101e101010', G: '0e11101711110f', H: '1111111f111111', I: '0e04040404040e', J: '0702020202120c',
  K: '11121418141211', L: '1010101010101f', M: '111b1515111111', N: '11111915131111', O: '0e11111111110e',
  P: '1e11111e101010', Q: '0e11111115120d', R: '1e11111e141211', S: '0f10100e01011e', T: '1f040404040404',
  U: '1111111111110e', V: '11111111110a04', W: '1111111515150a', X: '11110a040a1111', Y: '1111110a040404',
  Z: '1f01020408101f', '0': '0e11131519110e', '1': '040c040404040e', '2': '0e11010204081f', '3': '1f02040201110e',
  '4': '02060a121f0202', '5': '1f101e0101110e', '6': '0608101e11110e', '7': '1f010204080808', '8': '0e11110e11110e',
  '9': '0e11110f01020c', ' ': '00000000000000', '-': '0000001f000000', '.': '00000000000c0c', '/': '00010204081000',
  ':': '000c0c000c0c00', '^': '040a1100000000', _: '0000000000001f', ',': '000000000c0408', '&': '0c12140815120d',
  '#': '0a0a1f0a1f0a0a', '?': '0e110102040004', '(': '02040808080402', ')': '08040202020408', "'": '0c040800000000',
};

export const GLYPH_WIDTH = 5;
export const GLYPH_HEIGHT = 7;
/** Advance per character in font pixels (one column of spacing). */
export const GLYPH_ADVANCE = 6;

function glyphRows(char: string): number[] {
  const hex = GLYPHS[char.toUpperCase()] ?? GLYPHS['?'];
  return Array.from({ length: GLYPH_HEIGHT }, (_, row) => parseInt(hex.slice(row * 2, row * 2 + 2), 16));
}

/** An RGB canvas for drawing labels. */
export interface Canvas {
  width: number;
  height: number;
  pixels: Buffer;
}

export function createCanvas(width: number, height: number, colour: readonly [number, number, number]): Canvas {
  const pixels = Buffer.alloc(width * height * 3);
  for (let i = 0; i < width * height; i++) pixels.set(colour, i * 3);
  return { width, height, pixels };
}

export function fillRect(canvas: Canvas, x: number, y: number, w: number, h: number, colour: readonly [number, number, number]): void {
  const x0 = Math.max(0, Math.floor(x));
  const y0 = Math.max(0, Math.floor(y));
  const x1 = Math.min(canvas.width, Math.floor(x + w));
  const y1 = Math.min(canvas.height, Math.floor(y + h));
  for (let row = y0; row < y1; row++) {
    for (let col = x0; col < x1; col++) canvas.pixels.set(colour, (row * canvas.width + col) * 3);
  }
}

/** Draws text with its top-left corner at (x, y), each font pixel a `scale` x `scale` square; clipped. */
export function drawText(canvas: Canvas, text: string, x: number, y: number, scale: number, colour: readonly [number, number, number]): void {
  [...text].forEach((char, index) => {
    const rows = glyphRows(char);
    const left = x + index * GLYPH_ADVANCE * scale;
    rows.forEach((bits, row) => {
      for (let col = 0; col < GLYPH_WIDTH; col++) {
        if (bits & (1 << (GLYPH_WIDTH - 1 - col))) fillRect(canvas, left + col * scale, y + row * scale, scale, scale, colour);
      }
    });
  });
}

/** The largest integer scale (capped) at which `text` fits in `width` pixels; at least 1. */
export function fittingScale(text: string, width: number, maxScale: number): number {
  const columns = Math.max(1, [...text].length * GLYPH_ADVANCE - 1);
  return Math.max(1, Math.min(maxScale, Math.floor(width / columns)));
}
