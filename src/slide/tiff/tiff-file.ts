import { FileSource } from '../file-source.ts';
import { LIMITS, SlideError } from '../errors.ts';
import { Tag } from './tags.ts';

/** Byte size of each TIFF field type; 0 marks types we do not know (their entries are skipped). */
const TYPE_SIZE: Record<number, number> = { 1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4, 16: 8, 17: 8, 18: 8 };

/** Entries whose values we read eagerly up to this size; the tile/strip offset arrays load on demand. */
const EAGER_VALUE_BYTES = 1 << 20;
const LAZY_TAGS = new Set<number>([Tag.TileOffsets, Tag.TileByteCounts, Tag.StripOffsets, Tag.StripByteCounts]);

interface Entry {
  type: number;
  count: number;
  /** File offset of the value bytes (or of the inline field). */
  valueOffset: number;
  bytes: Buffer | null;
}

/** One image file directory: tags with their values, read with the file's byte order. */
export class TiffDirectory {
  readonly index: number;
  readonly offset: number;
  private readonly entries: Map<number, Entry>;
  private readonly file: TiffFile;
  private readonly lazyArrays = new Map<number, Promise<Float64Array>>();

  constructor(file: TiffFile, index: number, offset: number, entries: Map<number, Entry>) {
    this.file = file;
    this.index = index;
    this.offset = offset;
    this.entries = entries;
  }

  has(tag: number): boolean {
    return this.entries.has(tag);
  }

  /** The numeric values of an eagerly read tag (empty when absent). */
  numbers(tag: number): number[] {
    const entry = this.entries.get(tag);
    if (!entry?.bytes) return [];
    return this.file.decodeNumbers(entry.bytes, entry.type, entry.count);
  }

  number(tag: number): number | undefined {
    return this.numbers(tag)[0];
  }

  /**
   * A tag that must hold a whole number (sizes, counts, enumerations): undefined when absent, and a
   * typed error when the file stores a fraction or a negative there (a RATIONAL ImageLength, say).
   */
  integer(tag: number): number | undefined {
    const value = this.number(tag);
    if (value !== undefined && (!Number.isSafeInteger(value) || value < 0)) {
      throw new SlideError('CORRUPT_STRUCTURE', `TIFF directory ${this.index}: tag ${tag} holds ${value}, not a whole number`);
    }
    return value;
  }

  string(tag: number): string | undefined {
    const entry = this.entries.get(tag);
    if (!entry?.bytes || (entry.type !== 2 && entry.type !== 7 && entry.type !== 1)) return undefined;
    const end = entry.bytes.indexOf(0);
    return entry.bytes.subarray(0, end < 0 ? entry.bytes.length : end).toString('latin1');
  }

  bytes(tag: number): Buffer | undefined {
    return this.entries.get(tag)?.bytes ?? undefined;
  }

  /** Location of a tag's value in the file, for vendors that store data behind a tag (NDPI). */
  rawEntry(tag: number): { type: number; count: number; valueOffset: number } | undefined {
    const entry = this.entries.get(tag);
    return entry && { type: entry.type, count: entry.count, valueOffset: entry.valueOffset };
  }

  /** A (possibly large) integer array such as TileOffsets, read once and cached. */
  async array(tag: number): Promise<Float64Array> {
    const entry = this.entries.get(tag);
    if (!entry) throw new SlideError('CORRUPT_STRUCTURE', `directory ${this.index} lacks required tag ${tag}`);
    let pending = this.lazyArrays.get(tag);
    if (!pending) {
      pending = this.file.readArray(entry, `tag ${tag} of directory ${this.index}`);
      this.lazyArrays.set(tag, pending);
      pending.catch(() => this.lazyArrays.delete(tag));
    }
    return pending;
  }
}

/**
 * A parsed TIFF or BigTIFF header and its chain of directories (plus SubIFDs, which OME-TIFF pyramids
 * use). IFD loops, absurd counts and offsets past the end are typed errors, never hangs.
 */
export class TiffFile {
  readonly source: FileSource;
  readonly littleEndian: boolean;
  readonly bigTiff: boolean;
  readonly directories: TiffDirectory[] = [];
  /** SubIFDs of each top-level directory, by that directory's index. */
  readonly subDirectories = new Map<number, TiffDirectory[]>();
  /** Hamamatsu NDPI over 4 GB: 64-bit next-directory offsets and implied high offset bits (see ndpiOffset). */
  private ndpiMode = false;
  /** Entries indexed and tag bytes read so far, against LIMITS.maxTiffEntries and maxTiffValueBytes. */
  private entriesIndexed = 0;
  private valueBytesRead = 0;

  private constructor(source: FileSource, littleEndian: boolean, bigTiff: boolean) {
    this.source = source;
    this.littleEndian = littleEndian;
    this.bigTiff = bigTiff;
  }

  /** True when the first bytes are a TIFF or BigTIFF header. */
  static looksLikeTiff(head: Buffer): boolean {
    if (head.length < 8) return false;
    const order = head.toString('latin1', 0, 2);
    if (order !== 'II' && order !== 'MM') return false;
    const magic = order === 'II' ? head.readUInt16LE(2) : head.readUInt16BE(2);
    return magic === 42 || magic === 43;
  }

  static async parse(source: FileSource): Promise<TiffFile> {
    const head = await source.read(0, Math.min(16, source.size), 'TIFF header');
    if (!TiffFile.looksLikeTiff(head)) throw new SlideError('UNSUPPORTED_FORMAT', 'unsupported format: not a TIFF file');
    const littleEndian = head.toString('latin1', 0, 2) === 'II';
    const magic = littleEndian ? head.readUInt16LE(2) : head.readUInt16BE(2);
    const file = new TiffFile(source, littleEndian, magic === 43);
    let first: number;
    if (file.bigTiff) {
      if (head.length < 16) throw new SlideError('TRUNCATED', 'truncated file: BigTIFF header');
      first = file.readUint(head, 8, 8);
    } else {
      first = (await file.ndpiFirstDirectory(head)) ?? file.readUint(head, 4, 4);
    }
    await file.readChain(first);
    if (file.directories.length === 0) throw new SlideError('CORRUPT_STRUCTURE', 'TIFF has no image directories');
    return file;
  }

  get ndpi(): boolean {
    return this.ndpiMode;
  }

  /**
   * OpenSlide's NDPI detection: a classic TIFF whose header offset, read as 64 bits, leads to a directory
   * with the NDPI tag. Only files over 4 GB need it; smaller ones parse correctly as classic TIFF.
   */
  private async ndpiFirstDirectory(head: Buffer): Promise<number | null> {
    if (this.source.size <= 2 ** 32 || head.length < 12) return null;
    const first = this.readUint(head, 4, 8);
    this.ndpiMode = true;
    try {
      const { directory } = await this.readDirectory(first, 0);
      if (directory.has(Tag.NdpiFormatFlag)) return first;
    } catch (e) {
      if (!(e instanceof SlideError)) throw e;
    }
    this.ndpiMode = false;
    return null;
  }

  private async readChain(first: number): Promise<void> {
    const seen = new Set<number>();
    let offset = first;
    while (offset !== 0) {
      if (seen.has(offset)) throw new SlideError('CORRUPT_STRUCTURE', `TIFF directory loop at offset ${offset}`);
      if (seen.size >= LIMITS.maxIfds) throw new SlideError('TOO_LARGE', `more than ${LIMITS.maxIfds} TIFF directories`);
      seen.add(offset);
      const { directory, next } = await this.readDirectory(offset, this.directories.length);
      this.directories.push(directory);
      const subOffsets = directory.numbers(Tag.SubIFDs);
      if (subOffsets.length > 0) {
        const subs: TiffDirectory[] = [];
        for (const sub of subOffsets.slice(0, LIMITS.maxIfds)) {
          if (seen.has(sub)) throw new SlideError('CORRUPT_STRUCTURE', `TIFF SubIFD loop at offset ${sub}`);
          seen.add(sub);
          subs.push((await this.readDirectory(sub, -1)).directory);
        }
        this.subDirectories.set(directory.index, subs);
      }
      offset = next;
    }
  }

  private async readDirectory(offset: number, index: number): Promise<{ directory: TiffDirectory; next: number }> {
    const countSize = this.bigTiff ? 8 : 2;
    const entrySize = this.bigTiff ? 20 : 12;
    const offsetSize = this.bigTiff ? 8 : 4;
    const nextSize = this.ndpiMode ? 8 : offsetSize;
    const countBytes = await this.source.read(offset, countSize, `TIFF directory at ${offset}`);
    const count = this.readUint(countBytes, 0, countSize);
    if (count === 0 || count > LIMITS.maxIfdEntries) {
      throw new SlideError('CORRUPT_STRUCTURE', `TIFF directory at ${offset} declares ${count} entries`);
    }
    this.entriesIndexed += count;
    if (this.entriesIndexed > LIMITS.maxTiffEntries) throw new SlideError('TOO_LARGE', `TIFF directories hold more than ${LIMITS.maxTiffEntries} entries`);
    const body = await this.source.read(offset + countSize, count * entrySize + nextSize, `TIFF directory at ${offset}`);
    const entries = new Map<number, Entry>();
    for (let i = 0; i < count; i++) {
      const at = i * entrySize;
      const tag = this.readUint(body, at, 2);
      const type = this.readUint(body, at + 2, 2);
      const valueCount = this.readUint(body, at + 4, this.bigTiff ? 8 : 4);
      const typeSize = TYPE_SIZE[type] ?? 0;
      if (typeSize === 0) continue; // unknown field type: TIFF readers must skip it
      const byteLength = typeSize * valueCount;
      const inlineAt = at + (this.bigTiff ? 12 : 8);
      const inline = byteLength <= offsetSize;
      const valueOffset = inline ? offset + countSize + inlineAt : this.valueOffset(offset, tag, this.readUint(body, inlineAt, offsetSize));
      let bytes: Buffer | null = null;
      if (inline) {
        bytes = body.subarray(inlineAt, inlineAt + byteLength);
      } else if (!LAZY_TAGS.has(tag) && byteLength <= EAGER_VALUE_BYTES) {
        this.valueBytesRead += byteLength;
        if (this.valueBytesRead > LIMITS.maxTiffValueBytes) {
          throw new SlideError('TOO_LARGE', `TIFF tag values exceed ${LIMITS.maxTiffValueBytes} bytes in total (at tag ${tag} of the directory at ${offset})`);
        }
        bytes = await this.source.read(valueOffset, byteLength, `TIFF tag ${tag} value`);
      }
      entries.set(tag, { type, count: valueCount, valueOffset, bytes });
    }
    const next = this.readUint(body, count * entrySize, nextSize);
    return { directory: new TiffDirectory(this, index, offset, entries), next };
  }

  /** NDPI shares some values with the first directory (OpenSlide reuses its offset then); others get implied high bits. */
  private valueOffset(directoryOffset: number, tag: number, stored: number): number {
    if (!this.ndpiMode) return stored;
    if (this.directories[0]?.rawEntry(tag)?.valueOffset === stored) return stored;
    return ndpiOffset(directoryOffset, stored);
  }

  /** Reads an offset/byte-count array, bounded so a forged count cannot exhaust memory. */
  async readArray(entry: Entry, what: string): Promise<Float64Array> {
    if (entry.count > LIMITS.maxTilesPerLevel) throw new SlideError('TOO_LARGE', `${what} has ${entry.count} values`);
    const bytes = entry.bytes ?? (await this.source.read(entry.valueOffset, entry.count * (TYPE_SIZE[entry.type] ?? 0), what));
    return Float64Array.from(this.decodeNumbers(bytes, entry.type, entry.count));
  }

  decodeNumbers(bytes: Buffer, type: number, count: number): number[] {
    const out: number[] = [];
    const le = this.littleEndian;
    for (let i = 0; i < count; i++) {
      switch (type) {
        case 1: case 2: case 7: out.push(bytes[i]); break;
        case 6: out.push(bytes.readInt8(i)); break;
        case 3: out.push(le ? bytes.readUInt16LE(i * 2) : bytes.readUInt16BE(i * 2)); break;
        case 8: out.push(le ? bytes.readInt16LE(i * 2) : bytes.readInt16BE(i * 2)); break;
        case 4: case 13: out.push(le ? bytes.readUInt32LE(i * 4) : bytes.readUInt32BE(i * 4)); break;
        case 9: out.push(le ? bytes.readInt32LE(i * 4) : bytes.readInt32BE(i * 4)); break;
        case 5: case 10: {
          const signed = type === 10;
          const read = (o: number) => signed ? (le ? bytes.readInt32LE(o) : bytes.readInt32BE(o)) : (le ? bytes.readUInt32LE(o) : bytes.readUInt32BE(o));
          const denominator = read(i * 8 + 4);
          out.push(denominator === 0 ? 0 : read(i * 8) / denominator);
          break;
        }
        case 11: out.push(le ? bytes.readFloatLE(i * 4) : bytes.readFloatBE(i * 4)); break;
        case 12: out.push(le ? bytes.readDoubleLE(i * 8) : bytes.readDoubleBE(i * 8)); break;
        case 16: case 17: case 18: out.push(this.readUint(bytes, i * 8, 8)); break;
        default: break;
      }
    }
    return out;
  }

  readUint(bytes: Buffer, at: number, size: number): number {
    const le = this.littleEndian;
    switch (size) {
      case 2: return le ? bytes.readUInt16LE(at) : bytes.readUInt16BE(at);
      case 4: return le ? bytes.readUInt32LE(at) : bytes.readUInt32BE(at);
      default: {
        const big = le ? bytes.readBigUInt64LE(at) : bytes.readBigUInt64BE(at);
        if (big > BigInt(Number.MAX_SAFE_INTEGER)) throw new SlideError('CORRUPT_STRUCTURE', `TIFF offset ${big} is out of range`);
        return Number(big);
      }
    }
  }
}

/**
 * The full offset of a 32-bit NDPI offset stored in the directory at `directoryOffset`: the largest
 * value with those low bits that lies before the directory (NDPI writes data ahead of its directories).
 */
export function ndpiOffset(directoryOffset: number, stored: number): number {
  const low = stored % 2 ** 32;
  const candidate = Math.floor(directoryOffset / 2 ** 32) * 2 ** 32 + low;
  return candidate >= directoryOffset && candidate >= 2 ** 32 ? candidate - 2 ** 32 : candidate;
}
