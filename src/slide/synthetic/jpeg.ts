/**
 * JPEG-in-TIFF the way Aperio stores it: one JPEGTables tag holding the quantisation and Huffman tables
 * (SOI, DQT, DHT, EOI) and "abbreviated" tiles holding only SOI, SOF, SOS, entropy-coded data and EOI.
 * sharp (libvips + mozjpeg) is run with standard Huffman tables and a fixed quality, so every image it
 * encodes carries the same tables; this encoder checks that instead of assuming it.
 */
import sharp from 'sharp';

const SOI = 0xd8;
const EOI = 0xd9;
const SOS = 0xda;
const DQT = 0xdb;
const DHT = 0xc4;

export class SharedTablesJpegEncoder {
  private readonly quality: number;
  private sharedTables: Buffer | null = null;

  constructor(quality: number) {
    this.quality = quality;
  }

  /** The JPEGTables tag value; available after the first encode. */
  get tables(): Buffer {
    if (!this.sharedTables) throw new Error('JPEG tables are not known before the first image is encoded');
    return this.sharedTables;
  }

  /**
   * Encodes interleaved RGB to an abbreviated JPEG (YCbCr, 4:2:0, as the TIFF's Photometric/YCbCrSubSampling
   * tags declare). Runs on libuv's thread pool, so several calls may be in flight at once.
   */
  async encode(rgb: Buffer, width: number, height: number): Promise<Buffer> {
    const jpeg = await sharp(rgb, { raw: { width, height, channels: 3 } })
      .jpeg({ quality: this.quality, optimiseCoding: false, chromaSubsampling: '4:2:0', progressive: false, mozjpeg: false })
      .toBuffer();
    const { tables, abbreviated } = splitJpeg(jpeg);
    if (!this.sharedTables) this.sharedTables = tables;
    else if (!this.sharedTables.equals(tables)) {
      throw new Error(`JPEG encoder produced different tables for a ${width}x${height} image; tiles cannot share one JPEGTables tag`);
    }
    return abbreviated;
  }
}

/** Splits a complete baseline JPEG into its tables-only stream and its abbreviated image stream. */
export function splitJpeg(jpeg: Buffer): { tables: Buffer; abbreviated: Buffer } {
  if (jpeg[0] !== 0xff || jpeg[1] !== SOI) throw new Error('not a JPEG stream: missing SOI marker');
  const tableSegments: Buffer[] = [];
  const frameSegments: Buffer[] = [];
  let offset = 2;
  for (;;) {
    if (offset + 4 > jpeg.length || jpeg[offset] !== 0xff) throw new Error(`malformed JPEG: no marker at byte ${offset}`);
    const marker = jpeg[offset + 1];
    const segmentEnd = offset + 2 + jpeg.readUInt16BE(offset + 2);
    const segment = jpeg.subarray(offset, segmentEnd);
    if (marker === SOS) {
      frameSegments.push(jpeg.subarray(offset));
      break;
    }
    if (marker === DQT || marker === DHT) tableSegments.push(segment);
    // APPn and COM carry nothing a TIFF reader needs; real Aperio tiles have none.
    else if (!(marker >= 0xe0 && marker <= 0xef) && marker !== 0xfe) frameSegments.push(segment);
    offset = segmentEnd;
  }
  const marker = (code: number) => Buffer.from([0xff, code]);
  return {
    tables: Buffer.concat([marker(SOI), ...tableSegments, marker(EOI)]),
    abbreviated: Buffer.concat([marker(SOI), ...frameSegments]),
  };
}
