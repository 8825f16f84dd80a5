/** The daemon as a real child process: ingest timing, restarts, the disk guard, bad slides, a damaged database. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, mkdtempSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import YAML from 'yaml';
import { sha256File } from '../../src/ingest/index.ts';
import { writeSyntheticSlide } from '../../src/slide/synthetic/index.ts';
import { daemonHarness } from '../helpers/daemon.ts';
import { fixture, projectRoot, skipUnlessFixtures } from '../helpers/fixtures.ts';

async function syntheticSlide(seed: number): Promise<string> {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'pathbox-slide-')), `s${seed}.svs`);
  await writeSyntheticSlide(file, { width: 2400, height: 1800, seed, mpp: 0.5 });
  return file;
}

function status(dataDir: string): { daemon: { running: boolean }; slides: Record<string, number>; disk: { paused: boolean; reason: string | null }; inboxes: { path: string; error: string | null }[]; errors: { message: string }[] } {
  const run = spawnSync(process.execPath, [path.join(projectRoot, 'src/cli/main.ts'), 'status', '--data-dir', dataDir, '--json'], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  return JSON.parse(run.stdout);
}

test('a slide written slowly is analysed once, after it is complete', { timeout: 120_000 }, async (t) => {
  const source = await syntheticSlide(7);
  const bytes = readFileSync(source);
  const daemon = daemonHarness();
  t.after(() => daemon.kill());
  daemon.start();
  const target = path.join(daemon.inbox, 'slow-scan.svs');
  // A scanner writing in place over ~3 s, in uneven chunks with pauses shorter than the settle time.
  const fd = openSync(target, 'w');
  const chunks = 12;
  for (let i = 0; i < chunks; i++) {
    writeSync(fd, bytes, Math.floor((i * bytes.length) / chunks), Math.floor(((i + 1) * bytes.length) / chunks) - Math.floor((i * bytes.length) / chunks));
    await new Promise((r) => setTimeout(r, 250));
  }
  closeSync(fd);
  await daemon.waitFor('the slide analysed', () => daemon.withStore((s) => s.countSlidesByState().done === 1), 60_000);
  await new Promise((r) => setTimeout(r, 1500));
  daemon.withStore((store) => {
    const slides = store.listSlides();
    assert.equal(slides.length, 1, `one slide expected, got ${slides.map((s) => `${s.state}:${s.error}`).join(', ')}`);
    assert.equal(store.resultsForSlide(slides[0].id).length, 1);
  });
  assert.equal(daemon.withStore((s) => s.listSlides()[0].sha256), await sha256File(target));
});

test('a slide dropped while the daemon is stopped is processed after start; a copy is not analysed twice', { timeout: 120_000 }, async (t) => {
  const source = await syntheticSlide(8);
  const daemon = daemonHarness();
  t.after(() => daemon.kill());
  daemon.drop(source, 'while-down.svs');
  daemon.start();
  await daemon.waitFor('the slide analysed', () => daemon.withStore((s) => s.countSlidesByState().done === 1), 60_000);
  await daemon.kill('SIGTERM');
  daemon.drop(source, 'same-content-again.svs');
  daemon.start();
  await daemon.waitFor('the copy seen', () => daemon.output.join('').includes('already known content'), 30_000);
  daemon.withStore((store) => {
    assert.equal(store.listSlides().length, 1);
    assert.equal(store.resultsForSlide(store.listSlides()[0].id).length, 1);
  });
});

test('a corrupt slide is failed with its reason and the next one proceeds; a non-slide is rejected and left in place', { skip: skipUnlessFixtures('slides/unreadable.svs', 'slides/broken.svs'), timeout: 120_000 }, async (t) => {
  const good = await syntheticSlide(9);
  const daemon = daemonHarness();
  t.after(() => daemon.kill());
  daemon.start();
  daemon.drop(fixture('slides/unreadable.svs'), 'corrupt-tile.svs');
  daemon.drop(fixture('slides/broken.svs'), 'notes.svs');
  daemon.drop(good, 'good.svs');
  await daemon.waitFor('all three handled', () => daemon.withStore((s) => {
    const c = s.countSlidesByState();
    return c.done === 1 && c.failed === 1 && c.rejected === 1;
  }), 60_000);
  daemon.withStore((store) => {
    const failed = store.listSlides({ state: 'failed' })[0];
    assert.match(failed.error!, /corrupt tile at level 0 \(0,0\)/);
    assert.match(store.listSlides({ state: 'rejected' })[0].error!, /unsupported format/);
  });
  assert.ok(readFileSync(path.join(daemon.inbox, 'notes.svs')).length > 0, 'the rejected file is left where it was');
  assert.ok(status(daemon.dataDir).errors.some((e) => /corrupt tile/.test(e.message)), 'status lists the failure');
});

test('the disk guard pauses ingest below its threshold and resumes when it is lowered (SIGHUP reload)', { timeout: 120_000 }, async (t) => {
  const source = await syntheticSlide(10);
  const daemon = daemonHarness({ disk: { pauseBelowMB: 100_000_000, resumeAboveMB: 100_000_000 } });
  t.after(() => daemon.kill());
  daemon.start();
  await daemon.waitFor('the daemon up', () => status(daemon.dataDir).disk.paused, 30_000);
  assert.match(status(daemon.dataDir).disk.reason!, /disk nearly full/);
  daemon.drop(source, 'waits.svs');
  await new Promise((r) => setTimeout(r, 2500));
  assert.equal(daemon.withStore((s) => s.listSlides().length), 0, 'nothing ingested while paused');
  const config = YAML.parse(readFileSync(daemon.configFile, 'utf8'));
  config.disk = { pauseBelowMB: 1, resumeAboveMB: 1 };
  writeFileSync(daemon.configFile, YAML.stringify(config));
  daemon.signal('SIGHUP');
  await daemon.waitFor('the slide analysed after resuming', () => daemon.withStore((s) => s.countSlidesByState().done === 1), 60_000);
  assert.equal(status(daemon.dataDir).disk.paused, false);
});

test('an unreadable inbox is reported in status, not fatal', { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'pathbox-badinbox-'));
  const notAFolder = path.join(dir, 'file');
  writeFileSync(notAFolder, 'x');
  const daemon = daemonHarness();
  const config = YAML.parse(readFileSync(daemon.configFile, 'utf8'));
  config.inboxes = [daemon.inbox, path.join(notAFolder, 'inbox')];
  writeFileSync(daemon.configFile, YAML.stringify(config));
  t.after(() => daemon.kill());
  daemon.start();
  await daemon.waitFor('the inbox problem reported', () => status(daemon.dataDir).inboxes.some((i) => i.error !== null), 30_000);
  const s = status(daemon.dataDir);
  assert.match(s.inboxes.find((i) => i.error)!.error!, /cannot read inbox/);
});

test('a database that fails its integrity check stops the daemon with what to do, and is preserved', { timeout: 60_000 }, async (t) => {
  const daemon = daemonHarness();
  daemon.start();
  await daemon.waitFor('the daemon up', () => status(daemon.dataDir).daemon.running, 30_000);
  await daemon.kill('SIGTERM');
  assert.ok(readFileSync(path.join(daemon.dataDir, 'pathbox.db')).length > 3 * 4096, 'a closed database has its tables in the main file');
  const database = path.join(daemon.dataDir, 'pathbox.db');
  const before = path.join(daemon.dir, 'before.db');
  // Scribble over every page after the header page: tables and indexes become unreadable.
  const fd = openSync(database, 'r+');
  const size = readFileSync(database).length;
  writeSync(fd, Buffer.alloc(size - 4096, 0x33), 0, size - 4096, 4096);
  closeSync(fd);
  copyFileSync(database, before);
  const run = spawnSync(process.execPath, [path.join(projectRoot, 'src/cli/main.ts'), 'daemon', '--config', daemon.configFile], { encoding: 'utf8', timeout: 30_000 });
  t.diagnostic(run.stderr.trim().split('\n').at(-1) ?? '');
  assert.notEqual(run.status, 0);
  assert.match(run.stderr, /integrity check/);
  assert.match(run.stderr, /Restore a backup|move the file aside/);
  assert.deepEqual(readFileSync(database), readFileSync(before), 'the damaged database is left untouched');
});
