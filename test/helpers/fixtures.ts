/**
 * Access to ../shared/fixtures. Tests that need them skip with a clear message when they are absent,
 * and fail instead when PATHBOX_REQUIRE_FIXTURES=1 or CI=true.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const fixturesDir = process.env.PATHBOX_FIXTURES ?? path.resolve(projectRoot, '..', 'shared', 'fixtures');

export function requireExternal(): boolean {
  return process.env.PATHBOX_REQUIRE_FIXTURES === '1' || process.env.CI === 'true';
}

/** Absolute path of a fixture file, e.g. fixture('slides/small.svs'). */
export function fixture(relative: string): string {
  return path.join(fixturesDir, relative);
}

/**
 * For `test(name, { skip: skipUnlessFixtures('slides/x.svs') }, ...)`: false when present, a skip message
 * when absent; throws when absent but required, so CI fails loudly instead of skipping.
 */
export function skipUnlessFixtures(...relatives: string[]): false | string {
  const missing = relatives.filter((r) => !existsSync(fixture(r)));
  if (!existsSync(fixturesDir)) missing.unshift(fixturesDir);
  if (missing.length === 0) return false;
  const message = `fixtures missing (${missing.join(', ')}): put ../shared/fixtures beside the project`;
  if (requireExternal()) throw new Error(`${message}; required because PATHBOX_REQUIRE_FIXTURES=1 or CI=true`);
  return message;
}
