/**
 * A streaming little-endian TIFF writer: image data is appended as it is produced (never a whole level in
 * memory), IFDs are written after all data, and the header last, so the choice between classic TIFF and
 * BigTIFF can be made once the final size is known.
 */
import { open, type FileHandle } from 'node:fs/promises';

/** SHORT, LONG, ASCII, UNDEFINED; OFFSET becomes LONG in classic TIFF and LONG8 in BigTIFF. */
export type TagType = 'SHORT' | 'LONG' | 'ASCII' | 'UNDEFINED' | 'OFFSET';

export interface TagSpec {
  tag: number;
  type: TagType;
  value: ArrayLike<number> | Buffer | string;
}

const TYPE_CODE = { SHORT: 3, LONG: 4, ASCII: 2, UNDEFINED: 7, LONG8: 16 } as const;
/** Room kept at the start of the file for the larger (BigTIFF) header. */
const HEADER_RESERVE = 16;
const FLUSH_BYTES = 8 * 1024 * 1024;
const CLASSIC_LIMIT = 2 ** 32;

interface EncodedTag {
  tag: number;
  code: number;
  count: number;
  bytes: Buffer;
}

export class TiffStreamWriter {
  private readonly handle: FileHandle;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private flushedTo = HEADER_RESERVE;

  private constructor(handle: FileHandle) {
    this.handle = handle;
  }

  static async create(path: string): Promise<TiffStreamWriter> {
    return new TiffStreamWriter(await open(path, 'w'));
  }

  /** The file offset the next appended byte will have. */
  get position(): number {
    return this.flushedTo + this.pendingBytes;
  }

  /** Appends bytes (padded to an even offset, as TIFF requires for offsets of values) and returns their offset. */
  async append(data: Buffer): Promise<number> {
    if (this.position % 2 === 1) this.queue(Buffer.alloc(1));
    const offset = this.position;
    this.queue(data);
    if (this.pendingBytes >= FLUSH_BYTES) await this.flush();
    return offset;
  }

  /**
   * Writes the IFD chain (in the given order) and the header, closes the file and returns its size.
   * BigTIFF is used when `bigTiff` is set or when the file would not fit 32-bit offsets.
   */
  async finish(ifds: TagSpec[][], bigTiff: boolean): Promise<{ bytes: number; bigTiff: boolean }> {
    const classicSize = this.position + ifds.reduce((sum, tags) => sum + ifdSize(tags, false) + 8, 0);
    const big = bigTiff || classicSize >= CLASSIC_LIMIT;
    let firstIfd = 0;
    let previousNextPointer = -1;
    for (const tags of ifds) {
      if (this.position % 8 !== 0) this.queue(Buffer.alloc(8 - (this.position % 8)));
      const at = this.position;
      const ifd = encodeIfd(tags, at, big);
      if (previousNextPointer < 0) firstIfd = at;
      else await this.patchOffset(previousNextPointer, at, big);
      previousNextPointer = at + ifd.nextPointer;
      this.queue(ifd.bytes);
      await this.flush();
    }
    await this.flush();
    const header = Buffer.alloc(big ? 16 : 8);
    header.write('II', 0, 'latin1');
    if (big) {
      header.writeUInt16LE(43, 2);
      header.writeUInt16LE(8, 4);
      header.writeBigUInt64LE(BigInt(firstIfd), 8);
    } else {
      header.writeUInt16LE(42, 2);
      header.writeUInt32LE(firstIfd, 4);
    }
    await this.handle.write(header, 0, header.length, 0);
    const bytes = this.position;
    await this.handle.close();
    return { bytes, bigTiff: big };
  }

  /** Closes the file without finishing it (the caller removes it). */
  async abandon(): Promise<void> {
    this.pending = [];
    await this.handle.close();
  }

  private queue(data: Buffer): void {
    this.pending.push(data);
    this.pendingBytes += data.length;
  }

  private async flush(): Promise<void> {
    if (this.pendingBytes === 0) return;
    const chunk = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending);
    await this.handle.write(chunk, 0, chunk.length, this.flushedTo);
    this.flushedTo += chunk.length;
    this.pending = [];
    this.pendingBytes = 0;
  }

  private async patchOffset(at: number, value: number, big: boolean): Promise<void> {
    const bytes = Buffer.alloc(big ? 8 : 4);
    if (big) bytes.writeBigUInt64LE(BigInt(value));
    else bytes.writeUInt32LE(value);
    await this.handle.write(bytes, 0, bytes.length, at);
  }
}

function encodeTag(spec: TagSpec, big: boolean): EncodedTag {
  const { tag, type, value } = spec;
  if (type === 'ASCII') {
    if (typeof value !== 'string') throw new TypeError(`TIFF tag ${tag}: ASCII value must be a string`);
    const bytes = Buffer.from(`${value}\0`, 'latin1');
    return { tag, code: TYPE_CODE.ASCII, count: bytes.length, bytes };
  }
  if (type === 'UNDEFINED') {
    if (!Buffer.isBuffer(value)) throw new TypeError(`TIFF tag ${tag}: UNDEFINED value must be a Buffer`);
    return { tag, code: TYPE_CODE.UNDEFINED, count: value.length, bytes: value };
  }
  if (typeof value === 'string') throw new TypeError(`TIFF tag ${tag}: numeric tag given a string`);
  const numbers = value;
  const width = type === 'SHORT' ? 2 : type === 'OFFSET' && big ? 8 : 4;
  const bytes = Buffer.alloc(numbers.length * width);
  for (let i = 0; i < numbers.length; i++) {
    const n = numbers[i];
    if (width === 2) bytes.writeUInt16LE(n, i * 2);
    else if (width === 4) bytes.writeUInt32LE(n, i * 4);
    else bytes.writeBigUInt64LE(BigInt(n), i * 8);
  }
  const code = type === 'SHORT' ? TYPE_CODE.SHORT : width === 8 ? TYPE_CODE.LONG8 : TYPE_CODE.LONG;
  return { tag, code, count: numbers.length, bytes };
}

function ifdSize(tags: TagSpec[], big: boolean): number {
  const inlineLimit = big ? 8 : 4;
  const fixed = big ? 8 + tags.length * 20 + 8 : 2 + tags.length * 12 + 4;
  return tags.reduce((sum, spec) => {
    const { bytes } = encodeTag(spec, big);
    return bytes.length > inlineLimit ? sum + bytes.length + (bytes.length % 2) : sum;
  }, fixed);
}

/** One IFD with its out-of-line values right after it; `nextPointer` is where the next-IFD offset sits. */
function encodeIfd(specs: TagSpec[], at: number, big: boolean): { bytes: Buffer; nextPointer: number } {
  const tags = specs.map((spec) => encodeTag(spec, big)).sort((a, b) => a.tag - b.tag);
  const entrySize = big ? 20 : 12;
  const inlineLimit = big ? 8 : 4;
  const headerSize = big ? 8 : 2;
  const nextPointer = headerSize + tags.length * entrySize;
  const tableSize = nextPointer + (big ? 8 : 4);
  const overflowSize = tags.reduce((sum, t) => (t.bytes.length > inlineLimit ? sum + t.bytes.length + (t.bytes.length % 2) : sum), 0);
  const out = Buffer.alloc(tableSize + overflowSize);
  if (big) out.writeBigUInt64LE(BigInt(tags.length), 0);
  else out.writeUInt16LE(tags.length, 0);
  let overflow = tableSize;
  tags.forEach((t, i) => {
    const entry = headerSize + i * entrySize;
    out.writeUInt16LE(t.tag, entry);
    out.writeUInt16LE(t.code, entry + 2);
    if (big) out.writeBigUInt64LE(BigInt(t.count), entry + 4);
    else out.writeUInt32LE(t.count, entry + 4);
    const valueField = entry + (big ? 12 : 8);
    if (t.bytes.length <= inlineLimit) {
      t.bytes.copy(out, valueField);
      return;
    }
    if (big) out.writeBigUInt64LE(BigInt(at + overflow), valueField);
    else out.writeUInt32LE(at + overflow, valueField);
    t.bytes.copy(out, overflow);
    overflow += t.bytes.length + (t.bytes.length % 2);
  });
  return { bytes: out, nextPointer };
}
