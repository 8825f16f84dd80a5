/**
 * The dashboard in a real browser against a real daemon: a child process on a temporary data folder, a
 * synthetic slide dropped into its inbox and analysed, an account made with `pathbox user add`. Log in,
 * find the slide in the worklist and review it from the keyboard, see tiles load in the viewer, toggle
 * the heatmap, confirm the finding, sign out, open the report. Screenshots of each page go to
 * test-output/screenshots/.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rename, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser, Page, Response } from 'playwright-core';
import { writeSyntheticSlide } from '../../src/slide/synthetic/index.ts';
import { projectRoot } from '../helpers/fixtures.ts';
import { launchChromium, skipUnlessChromium } from './browser.ts';

const SCREENSHOTS = path.join(projectRoot, 'test-output', 'screenshots');
const MAIN = path.join(projectRoot, 'src', 'cli', 'main.ts');
const PASSWORD = 'e2e-pathologist-password';
const skip = skipUnlessChromium();

let dir = '';
let daemon: ChildProcess | null = null;
let daemonLog = '';
let base: string;
let browser: Browser | null = null;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

async function waitFor<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value) return value;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}\n--- daemon log (tail) ---\n${daemonLog.slice(-3000)}`);
}

before(async () => {
  if (skip) return;
  mkdirSync(SCREENSHOTS, { recursive: true });
  dir = await mkdtemp(path.join(tmpdir(), 'pathbox-e2e-'));
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const config = path.join(dir, 'pathbox.yaml');
  writeFileSync(config, [
    'dataDir: ./var', 'inboxes: [./inbox]', 'ingest: { settleSeconds: 0.5, pollSeconds: 0.5 }',
    `http: { host: 127.0.0.1, port: ${port} }`, 'hospital: { name: E2E General Hospital }',
    'disk: { pauseBelowMB: 0, resumeAboveMB: 0 }', 'log: { level: info }', '',
  ].join('\n'));
  const added = spawnSync(process.execPath, [MAIN, 'user', 'add', 'paula', '--role', 'pathologist', '--config', config], { input: `${PASSWORD}\n`, encoding: 'utf8' });
  assert.equal(added.status, 0, `pathbox user add failed: ${added.stderr}`);
  assert.match(added.stdout, /user paula \(pathologist\) added/);

  mkdirSync(path.join(dir, 'inbox'), { recursive: true });
  const staging = path.join(dir, 'case-e2e.svs');
  await writeSyntheticSlide(staging, { width: 4096, height: 3072, seed: 21, mpp: 0.25 });
  await rename(staging, path.join(dir, 'inbox', 'case-e2e.svs'));
  writeFileSync(path.join(dir, 'inbox', 'broken-e2e.svs'), 'this is not a slide\n');

  daemon = spawn(process.execPath, [MAIN, 'daemon', '--config', config], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  daemon.stdout!.on('data', (d: Buffer) => (daemonLog += d.toString()));
  daemon.stderr!.on('data', (d: Buffer) => (daemonLog += d.toString()));
  await waitFor('the dashboard to listen', async () => daemonLog.includes('dashboard listening'), 60_000);
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  if (daemon && daemon.exitCode === null) {
    const exited = new Promise((resolve) => daemon!.once('exit', resolve));
    daemon.kill('SIGTERM');
    await exited;
  }
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function shot(page: Page, name: string, fullPage = false): Promise<void> {
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage });
}

test('log in, worklist, viewer with tiles and heatmap, confirm, sign out, report', { skip, timeout: 180_000 }, async () => {
  const page = await browser!.newPage({ viewport: { width: 1400, height: 900 } });
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  const tiles: Response[] = [];
  page.on('response', (r) => {
    if (r.url().includes('/tiles/')) tiles.push(r);
  });

  await page.goto(`${base}/`);
  await page.waitForURL(/\/index\.html\?next=/);
  await page.fill('#username', 'paula');
  await page.fill('#password', 'not-the-password');
  await page.click('#login-button');
  await page.waitForSelector('#login-error:has-text("wrong username or password")');
  await page.fill('#password', PASSWORD);
  await shot(page, '01-login');
  await page.click('#login-button');
  await page.waitForURL(/\/worklist\.html$/);

  // The worklist updates itself (Server-Sent Events) while the slide is analysed.
  const row = page.locator('tr', { hasText: 'case-e2e.svs' });
  await row.locator('.badge.state-done').waitFor({ timeout: 120_000 });
  const rejected = page.locator('tr', { hasText: 'broken-e2e.svs' });
  await rejected.locator('.reason').waitFor();
  assert.match(await rejected.locator('.reason').innerText(), /not a TIFF|unsupported|not a slide/i, 'a rejected slide shows its reason');
  assert.match(await row.innerText(), /preliminary/);
  await shot(page, '02-worklist');

  // Batch review from the keyboard: select the slide, "r" rejects the AI finding (the viewer confirms it below).
  await row.locator('td').nth(2).click();
  await page.keyboard.press('r');
  await row.locator('td', { hasText: /^rejected/ }).waitFor();
  assert.match(await row.innerText(), /rejected\s+paula/);

  await row.locator('a.slide-link').click();
  await page.waitForURL(/\/viewer\.html\?slide=\d+$/);
  await page.waitForSelector('body[data-tiles="loaded"][data-heatmap="loaded"]', { timeout: 30_000 });
  await page.waitForLoadState('networkidle');
  assert.ok(tiles.length > 0, 'the viewer asked for tiles');
  for (const response of tiles) {
    assert.equal(response.status(), 200, response.url());
    assert.equal(response.headers()['content-type'], 'image/jpeg', response.url());
  }
  await page.waitForSelector('.roi-outline');
  await page.waitForSelector('#scale-bar:not([hidden])');
  assert.match(await page.locator('.scale-bar-label').innerText(), /^\d+ (µm|mm)$/);
  await shot(page, '03-viewer-heatmap-on');
  const withHeatmap = await page.locator('#osd').screenshot();

  await page.uncheck('#heatmap-toggle');
  await page.waitForSelector('body[data-heatmap-opacity="0"]');
  await page.waitForTimeout(300);
  const withoutHeatmap = await page.locator('#osd').screenshot();
  assert.notDeepEqual(withoutHeatmap, withHeatmap, 'hiding the heatmap changes what is drawn');
  await shot(page, '04-viewer-heatmap-off');
  await page.check('#heatmap-toggle');

  const before = tiles.length;
  await page.locator('#roi-list li').first().locator('button.link').click();
  await page.waitForTimeout(1000);
  assert.ok(tiles.length > before, 'jumping to a region loads the tiles there');

  assert.match(await page.locator('#slide-decision').innerText(), /rejected by paula/);
  await page.click('#confirm-finding');
  await page.waitForSelector('#slide-decision:has-text("confirmed by paula")');
  await page.fill('#conclusion', 'Cellular tissue as found by the AI; signed in the end-to-end test.');
  await page.click('#sign-out-button');
  await page.waitForSelector('#sign-out-done:has-text("Final — signed out by paula")');
  assert.equal(await page.locator('#confirm-finding').isDisabled(), true, 'a final result takes no more decisions');
  await shot(page, '05-viewer-signed-out');

  await page.click('#report-link');
  await page.waitForURL(/\/report\.html\?slide=\d+$/);
  await page.waitForSelector('body[data-report="ready"]');
  assert.match(await page.locator('#report-status').innerText(), /FINAL/);
  assert.match(await page.locator('#conclusion').innerText(), /signed in the end-to-end test/);
  assert.match(await page.locator('.report').innerText(), /E2E General Hospital[\s\S]*cellularity 1\.0\.0[\s\S]*sha256:[0-9a-f]{64}/);
  // Polled with evaluate(function), not waitForFunction(string): the dashboard's CSP forbids eval, as it should.
  type LoadedImage = { complete: boolean; naturalWidth: number };
  const roiImagesLoaded = () => page.locator('.roi-grid img').evaluateAll((images) =>
    images.length > 0 && images.every((img) => (img as unknown as LoadedImage).complete && (img as unknown as LoadedImage).naturalWidth > 0));
  for (let tries = 0; !(await roiImagesLoaded()); tries++) {
    assert.ok(tries < 100, 'ROI snapshots did not load on the report');
    await page.waitForTimeout(100);
  }
  await shot(page, '06-report', true);
  await page.emulateMedia({ media: 'print' });
  assert.equal(await page.locator('#print-button').isVisible(), false, 'print CSS hides the controls');
  await shot(page, '07-report-print', true);
  await page.emulateMedia({ media: 'screen' });

  await page.goto(`${base}/device.html`);
  await page.waitForSelector('body[data-device="ready"]', { timeout: 30_000 });
  assert.match(await page.locator('#device').innerText(), /cellularity/);
  await shot(page, '08-device', true);

  await page.goto(`${base}/worklist.html`);
  await page.locator('tr', { hasText: 'case-e2e.svs' }).locator('.badge.final').waitFor();
  await page.click('#logout');
  await page.waitForURL(/\/index\.html$/);
  assert.deepEqual(problems, []);
});
