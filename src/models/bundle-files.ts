/** Reading the files a manifest names, without ever leaving the bundle directory. */
import { createHash } from 'node:crypto';
import { readFile, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { errorMessage, ModelBundleError } from './errors.ts';

/**
 * Absolute path of a manifest-listed file. The manifest schema already refuses "..", absolute paths and
 * backslashes; this also refuses symlinks that lead outside the bundle and anything that is not a regular file.
 */
export async function resolveBundleFile(bundleDir: string, relative: string, what: string): Promise<string> {
  const root = await realpath(bundleDir);
  const candidate = path.join(root, ...relative.split('/'));
  let real: string;
  try {
    real = await realpath(candidate);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new ModelBundleError('FILE_MISSING', `${what}: ${relative} is missing from the bundle ${bundleDir}`, { cause: e });
    }
    throw new ModelBundleError('FILE_MISSING', `${what}: ${relative} cannot be read (${errorMessage(e)})`, { cause: e });
  }
  if (real !== root && !real.startsWith(root + path.sep)) {
    throw new ModelBundleError('PATH_OUTSIDE_BUNDLE', `${what}: ${relative} leads outside the bundle (to ${real})`);
  }
  if (!(await stat(real)).isFile()) {
    throw new ModelBundleError('PATH_OUTSIDE_BUNDLE', `${what}: ${relative} is not a regular file`);
  }
  return real;
}

export async function readBundleFile(bundleDir: string, relative: string, what: string): Promise<Buffer> {
  return readFile(await resolveBundleFile(bundleDir, relative, what));
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
