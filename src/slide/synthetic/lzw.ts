/**
 * TIFF LZW compression (compression 5), as libtiff writes it: MSB-first codes of 9 to 12 bits, a Clear
 * code first, the code width growing one code early, and a Clear when the table fills. Real Aperio
 * labels are LZW; writing ours the same way makes the synthetic slide exercise the same reader path.
 */
const CLEAR = 256;
const END_OF_INFORMATION = 257;
const FIRST_FREE = 258;
const MIN_BITS = 9;
const MAX_BITS = 12;
const TABLE_FULL = (1 << MAX_BITS) - 2;

class BitWriter {
  private readonly chunks: Buffer[] = [];
  private buffer = Buffer.alloc(64 * 1024);
  private length = 0;
  private bits = 0;
  private bitCount = 0;

  put(code: number, width: number): void {
    this.bits = (this.bits << width) | code;
    this.bitCount += width;
    while (this.bitCount >= 8) {
      this.bitCount -= 8;
      this.byte((this.bits >>> this.bitCount) & 0xff);
    }
    this.bits &= (1 << this.bitCount) - 1;
  }

  finish(): Buffer {
    if (this.bitCount > 0) this.byte((this.bits << (8 - this.bitCount)) & 0xff);
    this.chunks.push(this.buffer.subarray(0, this.length));
    return Buffer.concat(this.chunks);
  }

  private byte(value: number): void {
    if (this.length === this.buffer.length) {
      this.chunks.push(this.buffer);
      this.buffer = Buffer.alloc(this.buffer.length);
      this.length = 0;
    }
    this.buffer[this.length++] = value;
  }
}

export function lzwCompress(data: Buffer): Buffer {
  const out = new BitWriter();
  // Dictionary of (prefix code, next byte) -> code, keyed as prefix * 256 + byte.
  let table = new Map<number, number>();
  let width = MIN_BITS;
  let nextCode = FIRST_FREE;
  out.put(CLEAR, width);
  if (data.length === 0) {
    out.put(END_OF_INFORMATION, width);
    return out.finish();
  }
  let prefix = data[0];
  for (let i = 1; i < data.length; i++) {
    const byte = data[i];
    const key = prefix * 256 + byte;
    const known = table.get(key);
    if (known !== undefined) {
      prefix = known;
      continue;
    }
    out.put(prefix, width);
    table.set(key, nextCode++);
    prefix = byte;
    if (nextCode === TABLE_FULL) {
      out.put(CLEAR, width);
      table = new Map();
      nextCode = FIRST_FREE;
      width = MIN_BITS;
    } else if (nextCode > (1 << width) - 1) {
      width++;
    }
  }
  out.put(prefix, width);
  // The decoder adds a table entry on reading that last code, which may widen the code for EOI.
  nextCode++;
  if (nextCode === TABLE_FULL) {
    out.put(CLEAR, width);
    width = MIN_BITS;
  } else if (nextCode > (1 << width) - 1) {
    width++;
  }
  out.put(END_OF_INFORMATION, width);
  return out.finish();
}
