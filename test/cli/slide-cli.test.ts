import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { fixture, projectRoot, skipUnlessFixtures } from '../helpers/fixtures.ts';

function pathbox(...args: string[]) {
  return spawnSync(process.execPath, [path.join(projectRoot, 'src/cli/main.ts'), ...args], { encoding: 'utf8' });
}

test('slide info --json prints the OpenSlide-style contract', { skip: skipUnlessFixtures('slides/CMU-1-Small-Region.svs') }, () => {
  const run = pathbox('slide', 'info', fixture('slides/CMU-1-Small-Region.svs'), '--json');
  assert.equal(run.status, 0, run.stderr);
  const info = JSON.parse(run.stdout);
  assert.equal(info.vendor, 'aperio');
  assert.deepEqual([info.width, info.height], [2220, 2967]);
  assert.deepEqual(info.levels.map((l: { downsample: number }) => l.downsample), [1]);
  assert.deepEqual(info.mpp, [0.499, 0.499]);
  assert.equal(info.objectivePower, 20);
  assert.deepEqual(info.associated.label, [387, 463]);
  assert.equal(info.properties['openslide.vendor'], 'aperio');
});

test('slide region writes the requested PNG', { skip: skipUnlessFixtures('slides/CMU-1-Small-Region.svs') }, async () => {
  const out = path.join(mkdtempSync(path.join(tmpdir(), 'pathbox-cli-')), 'r.png');
  const run = pathbox('slide', 'region', fixture('slides/CMU-1-Small-Region.svs'), '--level', '0', '--x', '900', '--y', '1300', '--width', '300', '--height', '200', '--out', out);
  assert.equal(run.status, 0, run.stderr);
  const meta = await sharp(out).metadata();
  assert.deepEqual([meta.width, meta.height], [300, 200]);
});

test('a bad file exits non-zero with one line naming the file and the reason', { skip: skipUnlessFixtures('slides/unopenable.tiff', 'slides/broken.svs', 'slides/unreadable.svs') }, () => {
  for (const [file, reason, extra] of [
    ['unopenable.tiff', /unknown TIFF compression 52479/, []],
    ['broken.svs', /unsupported format/, []],
    ['unreadable.svs', /corrupt tile at level 0 \(0,0\)/, ['--x', '0', '--y', '0', '--width', '16', '--height', '16', '--out', path.join(tmpdir(), 'never.png')]],
  ] as const) {
    const run = extra.length ? pathbox('slide', 'region', fixture(`slides/${file}`), ...extra) : pathbox('slide', 'info', fixture(`slides/${file}`));
    assert.equal(run.status, 1, `${file}: ${run.stderr}`);
    const lines = run.stderr.trim().split('\n');
    assert.equal(lines.length, 1, run.stderr);
    assert.match(lines[0], new RegExp(file.replace('.', '\\.')));
    assert.match(lines[0], reason);
  }
});

test('usage errors exit 2 with the usage line', () => {
  const run = pathbox('slide', 'region', 'x.svs', '--level', 'two', '--out', 'y.png');
  assert.equal(run.status, 2);
  assert.match(run.stderr, /usage: pathbox slide region/);
});
