import { open, type FileHandle } from 'node:fs/promises';
import { LIMITS, SlideError } from './errors.ts';

/**
 * One open file with positional reads. Slides stay open for their lifetime because reopening per read
 * costs 2-4x; every read is bounds-checked so a bad offset becomes a typed error, not a short buffer.
 */
export class FileSource {
  readonly path: string;
  readonly size: number;
  private readonly handle: FileHandle;

  private constructor(path: string, handle: FileHandle, size: number) {
    this.path = path;
    this.handle = handle;
    this.size = size;
  }

  static async open(path: string): Promise<FileSource> {
    let handle: FileHandle;
    try {
      handle = await open(path, 'r');
    } catch (e) {
      throw new SlideError('IO', `cannot open: ${(e as Error).message}`, { cause: e });
    }
    const stat = await handle.stat();
    if (!stat.isFile()) {
      await handle.close();
      throw new SlideError('UNSUPPORTED_FORMAT', 'not a regular file');
    }
    return new FileSource(path, handle, stat.size);
  }

  /** Exactly `length` bytes at `offset`, or TRUNCATED naming what was being read. */
  async read(offset: number, length: number, what = 'data'): Promise<Buffer> {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
      throw new SlideError('CORRUPT_STRUCTURE', `invalid ${what} location (offset ${offset}, length ${length})`);
    }
    if (length > LIMITS.maxTileBytes) {
      throw new SlideError('TOO_LARGE', `${what} of ${length} bytes exceeds the ${LIMITS.maxTileBytes}-byte limit`);
    }
    if (offset + length > this.size) {
      throw new SlideError('TRUNCATED', `truncated file: ${what} at ${offset}+${length} is past the end (${this.size} bytes)`);
    }
    const buffer = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      let bytesRead: number;
      try {
        ({ bytesRead } = await this.handle.read(buffer, done, length - done, offset + done));
      } catch (e) {
        throw new SlideError('IO', `read failed: ${(e as Error).message}`, { cause: e });
      }
      if (bytesRead === 0) throw new SlideError('TRUNCATED', `truncated file: ${what} at ${offset} ends early`);
      done += bytesRead;
    }
    return buffer;
  }

  /** Up to `length` bytes at `offset` (fewer at the end of the file). */
  async readUpTo(offset: number, length: number): Promise<Buffer> {
    const available = Math.max(0, Math.min(length, this.size - offset));
    return available === 0 ? Buffer.alloc(0) : this.read(offset, available);
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}
