import { SlideError } from '../errors.ts';

/**
 * TIFF LZW (MSB-first codes, early change), decoding at most `expected` bytes so a forged stream
 * cannot grow past the tile's declared size.
 */
export function decodeLzw(input: Buffer, expected: number): Buffer {
  const out = Buffer.alloc(expected);
  const prefix = new Int32Array(4096);
  const suffix = new Uint8Array(4096);
  const first = new Uint8Array(4096);
  const length = new Int32Array(4096);
  for (let i = 0; i < 256; i++) { prefix[i] = -1; suffix[i] = i; first[i] = i; length[i] = 1; }
  const CLEAR = 256;
  const EOI = 257;
  let next = 258;
  let width = 9;
  let previous = -1;
  let written = 0;
  let bitBuffer = 0;
  let bitCount = 0;
  let at = 0;
  const stack = new Uint8Array(4096);

  while (written < expected) {
    while (bitCount < width) {
      if (at >= input.length) return out; // a short stream leaves the rest zero, as libtiff does
      bitBuffer = ((bitBuffer << 8) | input[at++]) >>> 0;
      bitCount += 8;
    }
    const code = (bitBuffer >>> (bitCount - width)) & ((1 << width) - 1);
    bitCount -= width;
    if (code === EOI) break;
    if (code === CLEAR) {
      next = 258; width = 9; previous = -1;
      continue;
    }
    let entry: number;
    if (code < next && (code < 256 || code > EOI)) entry = code;
    else if (code === next && previous >= 0) entry = -1; // KwKwK case
    else throw new SlideError('CORRUPT_TILE', `LZW code ${code} is not in the table`);

    if (previous >= 0 && next < 4096) {
      prefix[next] = previous;
      suffix[next] = entry >= 0 ? first[entry] : first[previous];
      first[next] = first[previous];
      length[next] = length[previous] + 1;
      if (entry < 0) entry = next;
      next++;
    } else if (entry < 0) {
      throw new SlideError('CORRUPT_TILE', 'LZW stream references an undefined code');
    }
    let depth = 0;
    for (let c = entry; c >= 0; c = prefix[c]) stack[depth++] = suffix[c];
    while (depth > 0 && written < expected) out[written++] = stack[--depth];
    previous = entry;
    if (next + 1 >= 1 << width && width < 12) width++;
  }
  return out;
}
