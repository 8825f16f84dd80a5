import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { heatmapPng } from '../../src/analysis/index.ts';
import { pruneDerivedFiles } from '../../src/daemon/retention.ts';

test('retention removes only old regenerable files, and the heatmap comes back from its grid', async () => {
  const results = mkdtempSync(path.join(tmpdir(), 'pathbox-retention-'));
  const old = path.join(results, 'a'.repeat(64), '1');
  const recent = path.join(results, 'b'.repeat(64), '2');
  const grid = { cols: 2, rows: 1, tileSize: 100, slideWidth: 200, slideHeight: 100, scores: [0.1, null] };
  for (const dir of [old, recent]) {
    mkdirSync(dir, { recursive: true });
    for (const name of ['heatmap.png', 'tissue-mask.png', 'result.json', 'rois.geojson', 'overview.jpg']) writeFileSync(path.join(dir, name), 'x');
    writeFileSync(path.join(dir, 'heatmap.json'), JSON.stringify(grid));
  }
  const longAgo = new Date(Date.now() - 100 * 86_400_000);
  for (const name of ['heatmap.png', 'tissue-mask.png', 'result.json', 'heatmap.json']) utimesSync(path.join(old, name), longAgo, longAgo);

  const freed = await pruneDerivedFiles(results, 30);
  assert.equal(freed.files, 2);
  assert.ok(!existsSync(path.join(old, 'heatmap.png')) && !existsSync(path.join(old, 'tissue-mask.png')));
  for (const kept of ['result.json', 'heatmap.json', 'rois.geojson', 'overview.jpg']) assert.ok(existsSync(path.join(old, kept)), `${kept} must stay`);
  assert.ok(existsSync(path.join(recent, 'heatmap.png')), 'recent files stay');

  const png = await heatmapPng(old);
  const meta = await sharp(png).metadata();
  assert.equal(meta.width! / meta.height!, 2, 'regenerated heatmap keeps the slide aspect');
  assert.ok(existsSync(path.join(old, 'heatmap.png')));
});
