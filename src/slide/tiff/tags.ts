/** TIFF tag numbers and constants the drivers use (TIFF 6.0, BigTIFF, and the vendor tags we read). */
export const Tag = {
  NewSubfileType: 254,
  ImageWidth: 256,
  ImageLength: 257,
  BitsPerSample: 258,
  Compression: 259,
  Photometric: 262,
  ImageDescription: 270,
  Make: 271,
  Model: 272,
  StripOffsets: 273,
  SamplesPerPixel: 277,
  RowsPerStrip: 278,
  StripByteCounts: 279,
  XResolution: 282,
  YResolution: 283,
  PlanarConfig: 284,
  ResolutionUnit: 296,
  Software: 305,
  DateTime: 306,
  Predictor: 317,
  ColorMap: 320,
  TileWidth: 322,
  TileLength: 323,
  TileOffsets: 324,
  TileByteCounts: 325,
  SubIFDs: 330,
  ExtraSamples: 338,
  SampleFormat: 339,
  JPEGTables: 347,
  YCbCrSubsampling: 530,
  ReferenceBlackWhite: 532,
  ImageDepth: 32997,
  ICCProfile: 34675,
  // Hamamatsu NDPI private tags
  NdpiFormatFlag: 65420,
  NdpiSourceLens: 65421,
  NdpiXOffset: 65422,
  NdpiYOffset: 65423,
  NdpiFocalPlane: 65424,
  NdpiMcuStarts: 65426,
  NdpiReference: 65427,
  /** High 32 bits of each NdpiMcuStarts entry (levels whose JPEG exceeds 4 GB). */
  NdpiMcuStartsHigh: 65432,
  NdpiPropertyMap: 65449,
} as const;

export const Compression = {
  None: 1,
  Lzw: 5,
  OldJpeg: 6,
  Jpeg: 7,
  AdobeDeflate: 8,
  PackBits: 32773,
  Deflate: 32946,
  AperioJp2kYcbcr: 33003,
  AperioJp2kRgb: 33005,
} as const;

export const Photometric = {
  MinIsWhite: 0,
  MinIsBlack: 1,
  Rgb: 2,
  Palette: 3,
  YCbCr: 6,
} as const;

export const ResolutionUnit = { None: 1, Inch: 2, Centimeter: 3 } as const;
