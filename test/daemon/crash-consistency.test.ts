/**
 * Issue 4's crash test: the daemon (a real child process) is SIGKILLed at random moments while 10 slides
 * arrive and are analysed. At the end each slide has exactly one result, no job is lost or duplicated,
 * and the database passes its integrity check.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { writeSyntheticSlide } from '../../src/slide/synthetic/index.ts';
import { daemonHarness } from '../helpers/daemon.ts';

const SLIDES = 10;
const KILLS = Number(process.env.PATHBOX_CRASH_KILLS ?? 30);

test(`SIGKILL ${KILLS} times while ${SLIDES} slides arrive: every slide analysed exactly once`, { timeout: 600_000 }, async (t) => {
  const sources = mkdtempSync(path.join(tmpdir(), 'pathbox-crash-slides-'));
  const files: string[] = [];
  for (let i = 0; i < SLIDES; i++) {
    const file = path.join(sources, `slide-${i}.svs`);
    await writeSyntheticSlide(file, { width: 2400, height: 1800, seed: 100 + i, mpp: 0.5 });
    files.push(file);
  }
  const daemon = daemonHarness();
  t.after(() => daemon.kill());
  let seed = 12345;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  let dropped = 0;
  daemon.start();
  for (let kill = 0; kill < KILLS; kill++) {
    // Slides keep arriving during the first part of the run, while the daemon is up or down.
    if (dropped < SLIDES && random() < 0.6) daemon.drop(files[dropped], `case-${dropped++}.svs`);
    if (random() < 0.6) {
      // Aim at the interesting moment: mid-analysis, while tiles, progress and the lease are being written.
      await daemon.waitFor('a running job', () => daemon.withStore((s) => s.runningJobs().some((j) => j.interruptions < 3)), 8000).catch(() => {});
      await new Promise((r) => setTimeout(r, random() * 1200));
    } else {
      await new Promise((r) => setTimeout(r, 300 + random() * 2200));
    }
    // Five interruptions of one slide quarantine it by design (it may be what crashes the daemon): let a
    // slide that has been cut short three times finish before the next kill.
    await daemon.waitFor('a much-interrupted slide to finish', () => daemon.withStore((s) => !s.runningJobs().some((j) => j.interruptions >= 3)), 60_000).catch(() => {});
    await daemon.kill('SIGKILL');
    if (dropped < SLIDES && random() < 0.3) daemon.drop(files[dropped], `case-${dropped++}.svs`); // arrives while down
    daemon.start();
  }
  while (dropped < SLIDES) daemon.drop(files[dropped], `case-${dropped++}.svs`);
  await daemon.waitFor(`${SLIDES} slides done`, () => daemon.withStore((s) => s.countSlidesByState().done === SLIDES), 240_000);
  await daemon.kill('SIGTERM');

  const db = new Database(path.join(daemon.dataDir, 'pathbox.db'), { readonly: true });
  t.after(() => db.close());
  assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
  const slides = db.prepare('SELECT id, state FROM slides').all() as { id: number; state: string }[];
  assert.equal(slides.length, SLIDES, 'each distinct slide recorded once');
  for (const slide of slides) {
    const results = (db.prepare('SELECT COUNT(*) AS n FROM results WHERE slide_id = ?').get(slide.id) as { n: number }).n;
    assert.equal(results, 1, `slide ${slide.id} has ${results} results`);
    assert.equal(slide.state, 'done');
  }
  const open = (db.prepare("SELECT COUNT(*) AS n FROM jobs WHERE state IN ('queued', 'running')").get() as { n: number }).n;
  assert.equal(open, 0, 'no job left behind');
  const doneJobs = (db.prepare("SELECT COUNT(*) AS n FROM jobs WHERE state = 'done'").get() as { n: number }).n;
  assert.equal(doneJobs, SLIDES, 'one finished job per slide');
  const interrupted = (db.prepare('SELECT COALESCE(SUM(interruptions), 0) AS n FROM jobs').get() as { n: number }).n;
  t.diagnostic(`${KILLS} kills; ${interrupted} analyses were cut short and resumed`);
});
