import { SlideError } from '../errors.ts';
import type { FileSource } from '../file-source.ts';

/** Bytes read per step while looking for restart markers in a level without usable NdpiMcuStarts. */
const SCAN_CHUNK = 1024 * 1024;

export interface RestartStream {
  source: FileSource;
  /** File offset and byte count of the level's JPEG (its only TIFF strip). */
  start: number;
  length: number;
  /** Where interval 0 starts, relative to `start` (the end of the JPEG header). */
  firstInterval: number;
  /** Restart intervals in the stream. */
  count: number;
  /** Names the level in errors. */
  where: string;
}

/**
 * Where each restart interval of one level's JPEG starts, relative to the strip: from NdpiMcuStarts when
 * the file has it, otherwise found by scanning the entropy-coded data for RSTn markers, lazily and only
 * as far as a read needs (once per level: one offset per interval is kept). Every interval handed out
 * is checked against the markers around it, so a wrong table or damaged data becomes a SlideError.
 */
export class RestartIntervals {
  private readonly stream: RestartStream;
  private readonly starts: Float64Array;
  /** starts[i] is known for i < known. */
  private known: number;
  /** Relative position where the marker scan resumes. */
  private scanFrom: number;
  private scanQueue: Promise<void> = Promise.resolve();

  private constructor(stream: RestartStream, starts: Float64Array, known: number) {
    this.stream = stream;
    this.starts = starts;
    this.known = known;
    this.scanFrom = stream.firstInterval;
  }

  /** From NdpiMcuStarts (offsets relative to the strip); refuses a table that cannot be right. */
  static fromTable(stream: RestartStream, table: Float64Array): RestartIntervals {
    const bad = (why: string): never => {
      throw new SlideError('CORRUPT_STRUCTURE', `${stream.where}: NdpiMcuStarts ${why}`);
    };
    if (table.length !== stream.count) bad(`lists ${table.length} intervals, the JPEG has ${stream.count}`);
    if (table[0] !== stream.firstInterval) bad(`starts at ${table[0]}, the entropy data at ${stream.firstInterval}`);
    for (let i = 1; i < table.length; i++) {
      // Each interval holds at least the 2-byte marker that closes it.
      if (!(table[i] >= table[i - 1] + 2)) bad(`entry ${i} (${table[i]}) does not follow entry ${i - 1} (${table[i - 1]})`);
    }
    if (!(table[table.length - 1] + 2 <= stream.length)) bad(`entry ${table.length - 1} (${table[table.length - 1]}) is past the strip's ${stream.length} bytes`);
    return new RestartIntervals(stream, table, table.length);
  }

  static byScanning(stream: RestartStream): RestartIntervals {
    const starts = new Float64Array(stream.count);
    starts[0] = stream.firstInterval;
    return new RestartIntervals(stream, starts, 1);
  }

  /**
   * The bytes of intervals first..last (contiguous in the file), one buffer each, each ending with the
   * marker that closed it: RSTn, or EOI for the last interval of the stream. One read.
   */
  async read(first: number, last: number): Promise<Buffer[]> {
    const { count, where } = this.stream;
    if (!Number.isInteger(first) || !Number.isInteger(last) || first < 0 || last < first || last >= count) {
      throw new SlideError('OUT_OF_BOUNDS', `${where}: restart intervals ${first}..${last} are outside 0..${count - 1}`);
    }
    await this.ensureKnown(Math.min(last + 1, count - 1));
    const end = last + 1 < count ? this.starts[last + 1] : this.stream.length;
    // Reading the marker before `first` too proves its start is right.
    const from = first > 0 ? this.starts[first] - 2 : this.starts[0];
    const bytes = await this.stream.source.read(this.stream.start + from, end - from, `${where} restart intervals ${first}..${last}`);
    if (first > 0) this.expectMarker(bytes, 0, restartMarker(first - 1), `before interval ${first}`);
    const out: Buffer[] = [];
    for (let i = first; i <= last; i++) {
      const start = this.starts[i] - from;
      const stop = (i + 1 < count ? this.starts[i + 1] : this.stream.length) - from;
      this.expectMarker(bytes, stop - 2, i + 1 < count ? restartMarker(i) : 0xd9, `closing interval ${i}`);
      out.push(bytes.subarray(start, stop));
    }
    return out;
  }

  private expectMarker(bytes: Buffer, at: number, marker: number, what: string): void {
    if (bytes[at] === 0xff && bytes[at + 1] === marker) return;
    const found = at >= 0 && at + 1 < bytes.length ? `${hex(bytes[at])} ${hex(bytes[at + 1])}` : 'nothing';
    throw new SlideError('CORRUPT_TILE', `${this.stream.where}: expected marker FF ${hex(marker)} ${what}, found ${found}`);
  }

  /** Scans forward until starts[target] is known; scans of one level run one at a time. */
  private ensureKnown(target: number): Promise<void> {
    if (target < this.known) return Promise.resolve();
    const run = this.scanQueue.then(() => (target < this.known ? undefined : this.scanTo(target)));
    this.scanQueue = run.catch(() => undefined);
    return run;
  }

  private async scanTo(target: number): Promise<void> {
    const { source, start, length, where } = this.stream;
    let position = this.scanFrom;
    while (this.known <= target) {
      if (position >= length - 1) {
        throw new SlideError('CORRUPT_TILE', `${where}: the entropy-coded data ends before restart interval ${this.known} of ${this.stream.count}`);
      }
      const chunk = await source.read(start + position, Math.min(SCAN_CHUNK, length - position), `${where} entropy data`);
      let resume = chunk.length;
      let at = chunk.indexOf(0xff);
      while (at !== -1) {
        if (at + 1 === chunk.length) {
          resume = at; // the marker byte is in the next chunk
          break;
        }
        const marker = chunk[at + 1];
        if (marker >= 0xd0 && marker <= 0xd7) {
          if (marker !== restartMarker(this.known - 1)) {
            throw new SlideError('CORRUPT_TILE', `${where}: restart marker ${this.known} is RST${marker - 0xd0}, expected RST${(this.known - 1) % 8}`);
          }
          this.starts[this.known++] = position + at + 2;
          if (this.known > target) {
            resume = at + 2;
            break;
          }
        } else if (marker === 0xd9) {
          throw new SlideError('CORRUPT_TILE', `${where}: the JPEG ends after ${this.known} of ${this.stream.count} restart intervals`);
        }
        // FF FF is fill before a marker; FF 00 is a stuffed data byte.
        at = chunk.indexOf(0xff, marker === 0xff ? at + 1 : at + 2);
      }
      position += resume;
    }
    this.scanFrom = position;
  }
}

/** The marker that closes interval i: RST0..RST7 in turn. */
function restartMarker(interval: number): number {
  return 0xd0 + (interval % 8);
}

function hex(byte: number | undefined): string {
  return byte === undefined ? '--' : byte.toString(16).toUpperCase().padStart(2, '0');
}
