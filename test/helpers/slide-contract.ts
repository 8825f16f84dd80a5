/**
 * The slide reader's contract on arbitrary input: every call either returns a well-formed result or
 * rejects with a SlideError carrying a declared code and a message. `exerciseSlide` drives one file
 * through every entry point and throws ContractViolation at the first call that breaks the contract.
 */
import { openSlide } from '../../src/slide/open.ts';
import { SLIDE_ERROR_CODES, SlideError } from '../../src/slide/errors.ts';
import type { RawJpegTile, RgbImage, Slide, SlideMetadata } from '../../src/slide/types.ts';

export class ContractViolation extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ContractViolation';
  }
}

export interface ExerciseReport {
  /** "call:ok" or "call:CODE" for every call made, in order. */
  outcomes: string[];
  /** Largest growth of the process RSS seen after any call, in bytes. */
  rssGrowth: number;
}

const CENTRE_REGION = 256;
const CORNER_REGION = 200;

export async function exerciseSlide(path: string): Promise<ExerciseReport> {
  const outcomes: string[] = [];
  const rssBefore = process.memoryUsage.rss();
  let rssPeak = rssBefore;
  async function call<T>(name: string, action: () => Promise<T>, check: (value: T) => void): Promise<T | undefined> {
    let value: T;
    try {
      value = await action();
    } catch (e) {
      rssPeak = Math.max(rssPeak, process.memoryUsage.rss());
      outcomes.push(`${name}:${typedCode(name, e)}`);
      return undefined;
    }
    rssPeak = Math.max(rssPeak, process.memoryUsage.rss());
    try {
      check(value);
    } catch (e) {
      throw new ContractViolation(`${name} returned a malformed result: ${(e as Error).message}`);
    }
    outcomes.push(`${name}:ok`);
    return value;
  }

  const slide = await call('openSlide', () => openSlide(path), () => {});
  if (!slide) return { outcomes, rssGrowth: rssPeak - rssBefore };
  try {
    try {
      checkMetadata(slide.metadata);
    } catch (e) {
      throw new ContractViolation(`openSlide returned malformed metadata: ${(e as Error).message}`);
    }
    await exerciseOpenSlide(slide, call);
  } finally {
    await call('close', () => slide.close(), () => {});
  }
  return { outcomes, rssGrowth: rssPeak - rssBefore };
}

type Call = <T>(name: string, action: () => Promise<T>, check: (value: T) => void) => Promise<T | undefined>;

async function exerciseOpenSlide(slide: Slide, call: Call): Promise<void> {
  const { levels, associated } = slide.metadata;
  const last = levels.length - 1;
  const level0 = levels[0];
  const centreX = Math.max(0, Math.floor(level0.width / 2) - CENTRE_REGION / 2);
  const centreY = Math.max(0, Math.floor(level0.height / 2) - CENTRE_REGION / 2);
  await call('readRegion(level 0, centre)', () => slide.readRegion(0, centreX, centreY, CENTRE_REGION, CENTRE_REGION), (image) => checkImage(image, CENTRE_REGION, CENTRE_REGION));
  const cornerWidth = Math.min(CORNER_REGION, levels[last].width);
  const cornerHeight = Math.min(CORNER_REGION, levels[last].height);
  await call('readRegion(last level, corner)', () => slide.readRegion(last, 0, 0, cornerWidth, cornerHeight), (image) => checkImage(image, cornerWidth, cornerHeight));
  await call('readRegion(beyond the slide)', () => slide.readRegion(0, level0.width + 1000, level0.height + 1000, 32, 32), (image) => {
    checkImage(image, 32, 32);
    if (image.data.some((v) => v !== 255)) throw new Error('a region outside the slide must be white');
  });
  await expectOutOfBounds('readRegion(missing level)', () => slide.readRegion(levels.length, 0, 0, 16, 16));
  for (const [name, [width, height]] of Object.entries(associated)) {
    await call(`readAssociated(${name})`, () => slide.readAssociated(name), (image) => checkImage(image, width, height));
  }
  await call('readRawJpegTile(0, 0, 0)', () => slide.readRawJpegTile(0, 0, 0), checkRawTile);
  const centreCol = Math.floor(level0.width / 2 / level0.tileWidth);
  const centreRow = Math.floor(level0.height / 2 / level0.tileHeight);
  await call('readRawJpegTile(0, centre)', () => slide.readRawJpegTile(0, centreCol, centreRow), checkRawTile);
  await expectOutOfBounds('readRawJpegTile(outside the grid)', () => slide.readRawJpegTile(0, -1, 0));
}

async function expectOutOfBounds(name: string, action: () => Promise<unknown>): Promise<void> {
  try {
    await action();
  } catch (e) {
    if (e instanceof SlideError && e.code === 'OUT_OF_BOUNDS') return;
    throw new ContractViolation(`${name} must fail with OUT_OF_BOUNDS, threw ${describe(e)}`, { cause: e });
  }
  throw new ContractViolation(`${name} must fail with OUT_OF_BOUNDS, but returned`);
}

function typedCode(name: string, e: unknown): string {
  if (!(e instanceof SlideError)) throw new ContractViolation(`${name} threw ${describe(e)}`, { cause: e });
  if (!(SLIDE_ERROR_CODES as readonly string[]).includes(e.code)) throw new ContractViolation(`${name} threw SlideError with undeclared code ${e.code}`, { cause: e });
  if (e.message.trim().length < 8) throw new ContractViolation(`${name} threw SlideError ${e.code} without a useful message`, { cause: e });
  // A programming error wrapped into a SlideError is still a reader bug, only better dressed.
  for (let cause = e.cause; cause instanceof Error; cause = cause.cause) {
    if (cause instanceof TypeError || cause instanceof RangeError || cause instanceof ReferenceError) {
      throw new ContractViolation(`${name} threw SlideError ${e.code} wrapping a ${cause.name}`, { cause });
    }
  }
  return e.code;
}

export function describe(e: unknown): string {
  if (e instanceof Error) return `${e.name}: ${e.message}\n${e.stack?.split('\n').slice(1, 8).join('\n') ?? ''}`;
  return `non-Error ${typeof e}: ${String(e)}`;
}

function checkMetadata(m: SlideMetadata): void {
  if (m.levels.length === 0) throw new Error('no levels');
  if (m.width !== m.levels[0].width || m.height !== m.levels[0].height) throw new Error('slide size differs from level 0');
  m.levels.forEach((level, i) => {
    for (const [field, value] of Object.entries({ width: level.width, height: level.height, tileWidth: level.tileWidth, tileHeight: level.tileHeight })) {
      if (!Number.isSafeInteger(value) || value < 1) throw new Error(`level ${i} ${field} is ${value}`);
    }
    if (!Number.isFinite(level.downsample) || level.downsample <= 0) throw new Error(`level ${i} downsample is ${level.downsample}`);
  });
  for (const [name, [width, height]] of Object.entries(m.associated)) {
    if (!Number.isSafeInteger(width) || !Number.isSafeInteger(height) || width < 1 || height < 1) throw new Error(`associated ${name} is ${width}x${height}`);
  }
  if (m.mpp && !m.mpp.every((v) => Number.isFinite(v) && v > 0)) throw new Error(`mpp ${m.mpp.join(',')}`);
  for (const [key, value] of Object.entries(m.properties)) {
    if (typeof value !== 'string') throw new Error(`property ${key} is a ${typeof value}`);
  }
}

function checkImage(image: RgbImage, width: number, height: number): void {
  if (image.width !== width || image.height !== height) throw new Error(`image is ${image.width}x${image.height}, asked for ${width}x${height}`);
  if (image.channels !== 3) throw new Error(`image has ${image.channels} channels`);
  if (!Buffer.isBuffer(image.data) || image.data.length !== width * height * 3) throw new Error(`image data is ${image.data?.length} bytes, expected ${width * height * 3}`);
}

function checkRawTile(tile: RawJpegTile | null): void {
  if (tile === null) return;
  if (tile.data.length < 4 || tile.data[0] !== 0xff || tile.data[1] !== 0xd8) throw new Error('raw tile is not a JPEG');
  if (!Number.isSafeInteger(tile.width) || !Number.isSafeInteger(tile.height) || tile.width < 1 || tile.height < 1) throw new Error(`raw tile is ${tile.width}x${tile.height}`);
}
