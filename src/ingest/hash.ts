import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/** SHA-256 of a file, streamed (slides are gigabytes). */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 4 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** One digest for a multi-file slide: the SHA-256 of its files' digests in order (a single file: its own). */
export async function sha256Files(files: string[]): Promise<string> {
  if (files.length === 1) return sha256File(files[0]);
  const combined = createHash('sha256');
  for (const file of files) combined.update(await sha256File(file));
  return combined.digest('hex');
}
