/**
 * Writes that survive a power cut: data is fsync'd before it becomes visible under its final name, and the
 * directory is fsync'd after a rename so the new name itself is durable. The registry and the OTA updater
 * both depend on this for their "old or new, never half" guarantees.
 */
import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import path from 'node:path';

/** fsync of a file or directory by path. */
export async function fsyncPath(p: string): Promise<void> {
  const handle = await open(p, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Creates a new file (refuses an existing one) and fsyncs its content. */
export async function writeFileDurably(file: string, data: Uint8Array | string): Promise<void> {
  const handle = await open(file, 'wx');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Replaces a file atomically: temp file in the same directory, fsync, rename over, fsync of the directory. */
export async function replaceFileDurably(file: string, data: Uint8Array | string): Promise<void> {
  const dir = path.dirname(file);
  const temp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}`);
  try {
    await writeFileDurably(temp, data);
    await rename(temp, file);
  } catch (e) {
    await rm(temp, { force: true });
    throw e;
  }
  await fsyncPath(dir);
}
