/**
 * Debian's Chromium driven by playwright-core, for the dashboard's end-to-end tests. Tests skip with a
 * clear message when it is missing, and fail instead when PATHBOX_REQUIRE_FIXTURES=1 or CI=true
 * (.ci/run installs it). Install: apt-get install -y chromium.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { requireExternal } from '../helpers/fixtures.ts';

export const CHROMIUM = '/usr/bin/chromium';

/** For `test(name, { skip: skipUnlessChromium() }, ...)`. */
export function skipUnlessChromium(): false | string {
  if (existsSync(CHROMIUM)) return false;
  const message = `Debian's chromium is not installed at ${CHROMIUM} (apt-get install -y chromium)`;
  if (requireExternal()) throw new Error(`${message}; required because PATHBOX_REQUIRE_FIXTURES=1 or CI=true`);
  return message;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}
