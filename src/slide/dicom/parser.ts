import { SlideError } from '../errors.ts';

/**
 * A small DICOM Part 10 dataset parser for little-endian transfer syntaxes, enough for WSI headers:
 * it records each element's value location and descends into sequences. Written here because
 * dicom-parser 1.8 misreads the 64-bit VRs (OV, SV, UV) that the Extended Offset Table uses.
 */

/** The buffer ended inside an element: a longer prefix of the file may parse. */
export class NeedMoreBytes extends Error {}

interface DicomElement {
  tag: number;
  vr: string;
  /** Value offset within the parsed buffer (equal to the file offset: buffers are file prefixes). */
  offset: number;
  /** Value length; null for undefined length. */
  length: number | null;
  items?: DicomDataSet[];
}

export class DicomDataSet {
  readonly bytes: Buffer;
  readonly elements = new Map<number, DicomElement>();

  constructor(bytes: Buffer) {
    this.bytes = bytes;
  }

  /** The value bytes, or undefined when absent or undefined-length. */
  value(tag: number): Buffer | undefined {
    const element = this.elements.get(tag);
    if (!element || element.length === null) return undefined;
    return this.bytes.subarray(element.offset, element.offset + element.length);
  }

  /** The backslash-separated values of a string attribute, without padding; empty when absent. */
  strings(tag: number): string[] {
    const value = this.value(tag);
    if (!value || value.length === 0) return [];
    return value.toString('latin1').split('\\').map((s) => s.replace(/[\0 ]+$/, '').trim());
  }

  string(tag: number): string | undefined {
    return this.strings(tag)[0];
  }

  /** A binary integer value (US, UL, SL), or undefined when absent or too short. */
  binaryInteger(tag: number, vr: 'US' | 'UL' | 'SL'): number | undefined {
    const value = this.value(tag);
    if (!value || value.length < (vr === 'US' ? 2 : 4)) return undefined;
    return vr === 'US' ? value.readUInt16LE(0) : vr === 'UL' ? value.readUInt32LE(0) : value.readInt32LE(0);
  }

  items(tag: number): DicomDataSet[] | undefined {
    return this.elements.get(tag)?.items;
  }
}

const LONG_LENGTH_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);
const UNDEFINED = 0xffffffff;
const ITEM = 0xfffee000;
const ITEM_DELIMITER = 0xfffee00d;
const SEQUENCE_DELIMITER = 0xfffee0dd;
const PIXEL_DATA = 0x7fe00010;
const MAX_DEPTH = 32;

export interface ParseOptions {
  explicit: boolean;
  /** Sequences the implicit-VR syntax cannot name by itself (it has no VR on the wire). */
  implicitSequences: ReadonlySet<number>;
  /** Stop at this top-level tag, recording its header but not reading its value. */
  untilTag: number;
}

/** How a top-level parse ended: at the tag, past where it would be (absent), or at the buffer's end. */
type ParseEnd = 'found' | 'absent' | 'end';

/**
 * Parses top-level elements of `bytes` from `start`; `next` is where parsing stopped. Throws
 * NeedMoreBytes, or CORRUPT_STRUCTURE for what no longer prefix can mend.
 */
export function parseDataSet(bytes: Buffer, start: number, options: ParseOptions): { dataSet: DicomDataSet; end: ParseEnd; next: number } {
  const reader = new Reader(bytes, options);
  const dataSet = new DicomDataSet(bytes);
  reader.at = start;
  while (reader.at < bytes.length) {
    const tag = reader.peekTag();
    if (tag > options.untilTag) return { dataSet, end: 'absent', next: reader.at };
    const element = reader.element(0, tag === options.untilTag);
    dataSet.elements.set(element.tag, element);
    if (tag === options.untilTag) return { dataSet, end: 'found', next: reader.at };
  }
  return { dataSet, end: 'end', next: reader.at };
}

class Reader {
  at = 0;
  private readonly bytes: Buffer;
  private readonly options: ParseOptions;

  constructor(bytes: Buffer, options: ParseOptions) {
    this.bytes = bytes;
    this.options = options;
  }

  peekTag(): number {
    this.need(4);
    return this.bytes.readUInt16LE(this.at) * 0x10000 + this.bytes.readUInt16LE(this.at + 2);
  }

  /** One element; with headerOnly, its value is left unread (it may lie beyond the buffer). */
  element(depth: number, headerOnly = false, explicit = this.options.explicit): DicomElement {
    const tag = this.peekTag();
    let vr: string;
    let length: number;
    if (explicit) {
      this.need(8);
      vr = this.bytes.toString('latin1', this.at + 4, this.at + 6);
      if (LONG_LENGTH_VRS.has(vr)) {
        this.need(12);
        length = this.bytes.readUInt32LE(this.at + 8);
        this.at += 12;
      } else {
        length = this.bytes.readUInt16LE(this.at + 6);
        this.at += 8;
      }
    } else {
      this.need(8);
      length = this.bytes.readUInt32LE(this.at + 4);
      vr = this.options.implicitSequences.has(tag) ? 'SQ' : 'UN';
      this.at += 8;
    }
    const element: DicomElement = { tag, vr, offset: this.at, length: length === UNDEFINED ? null : length };
    if (headerOnly) return element;
    if (tag === PIXEL_DATA && length === UNDEFINED) {
      this.skipFragments(); // an icon image's encapsulated pixels, nested in a sequence
    } else if (vr === 'SQ' || length === UNDEFINED) {
      // Undefined-length UN is an implicit-VR sequence (PS3.5 6.2.2).
      element.items = this.sequence(length, depth + 1, vr === 'SQ' ? explicit : false);
    } else {
      this.need(length);
      this.at += length;
    }
    return element;
  }

  private sequence(length: number, depth: number, explicit: boolean): DicomDataSet[] {
    if (depth > MAX_DEPTH) throw new SlideError('CORRUPT_STRUCTURE', `DICOM sequences nested deeper than ${MAX_DEPTH}`);
    const end = length === UNDEFINED ? Infinity : this.at + length;
    const items: DicomDataSet[] = [];
    while (this.at < end) {
      const tag = this.peekTag();
      this.need(8);
      const itemLength = this.bytes.readUInt32LE(this.at + 4);
      this.at += 8;
      if (tag === SEQUENCE_DELIMITER) break;
      if (tag !== ITEM) throw new SlideError('CORRUPT_STRUCTURE', `DICOM sequence holds tag ${hex(tag)} where an item belongs`);
      const item = new DicomDataSet(this.bytes);
      const itemEnd = itemLength === UNDEFINED ? Infinity : this.at + itemLength;
      while (this.at < itemEnd) {
        if (this.peekTag() === ITEM_DELIMITER) {
          this.need(8);
          this.at += 8;
          break;
        }
        const element = this.element(depth, false, explicit);
        item.elements.set(element.tag, element);
      }
      if (this.at > itemEnd || this.at > end) throw new SlideError('CORRUPT_STRUCTURE', 'DICOM item overruns its declared length');
      items.push(item);
    }
    return items;
  }

  private skipFragments(): void {
    for (;;) {
      const tag = this.peekTag();
      this.need(8);
      const length = this.bytes.readUInt32LE(this.at + 4);
      this.at += 8;
      if (tag === SEQUENCE_DELIMITER) return;
      if (tag !== ITEM || length === UNDEFINED) throw new SlideError('CORRUPT_STRUCTURE', 'malformed encapsulated pixel data in a sequence');
      this.need(length);
      this.at += length;
    }
  }

  private need(count: number): void {
    if (this.at + count > this.bytes.length) throw new NeedMoreBytes(`element at ${this.at} needs ${count} bytes`);
  }
}

function hex(tag: number): string {
  return `(${(tag >>> 16).toString(16).padStart(4, '0')},${(tag & 0xffff).toString(16).padStart(4, '0')})`;
}
