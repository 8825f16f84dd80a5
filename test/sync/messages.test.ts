import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AnalysisResult } from '../../src/analysis/index.ts';
import { eventMessages, resultMessage, secondOpinionResponseSchema } from '../../src/sync/index.ts';

const result: AnalysisResult = {
  slide: { sha256: 'ab'.repeat(32), width: 4000, height: 3000, mpp: [0.25, 0.25], mppSource: 'file' },
  model: { id: 'cellularity', version: '1.0.0', releaseCounter: 1, variant: 'int8', digest: 'sha256:x', executionProvider: 'cpu', researchOnly: true },
  tissue: { fraction: 0.4, areaMm2: 0.3 },
  tiles: { total: 63, analyzed: 41, tileSizePx: 448, level: 0 },
  finding: { label: 'cellular', score: 0.7, positive: true, method: 'top-k-mean' },
  rois: [{ x: 0, y: 448, width: 448, height: 448, score: 0.9 }],
  outputs: { heatmap: '/srv/scanner/S26-04711 DOE JANE/heatmap.png', heatmapGrid: null, geojson: null, tissueMask: null, overview: '/srv/scanner/S26-04711 DOE JANE/overview.jpg' },
  timings: { readMs: 1, inferMs: 2, totalMs: 3 },
  notes: ['/srv/scanner/S26-04711 DOE JANE.svs states no MPP; 0.25 assumed'],
  status: 'preliminary',
};

test('a result message carries the allow-listed result only, keyed by SHA-256', () => {
  const message = resultMessage('box-1', 7, 3, result, '2026-03-01T10:00:00.000Z');
  const text = String(message.payload);
  assert.equal(message.idempotencyKey, `result:${'ab'.repeat(32)}:7`);
  assert.equal(message.topic, 'pathbox/v1/box-1/results');
  assert.equal(message.slideId, 3);
  for (const leak of ['S26-04711', 'DOE', '/srv', 'overview.jpg', 'notes']) assert.ok(!text.includes(leak), `${leak} is not sent`);
  const body = JSON.parse(text) as { idempotencyKey: string; result: { finding: unknown; rois: unknown[] } };
  assert.equal(body.idempotencyKey, message.idempotencyKey, 'the key is in the payload too');
  assert.deepEqual(body.result.finding, { label: 'cellular', score: 0.7, positive: true });
  assert.equal(body.result.rois.length, 1);
});

test('events name a slide by SHA-256 and never pass on their free-text details', () => {
  const [message, ...rest] = eventMessages('box-1', [
    { id: 5, at: '2026-03-01T10:00:00.000Z', actor: 'ingest', kind: 'slide.rejected', subject: 'slide:3', details: { reason: '/srv/scanner/DOE JANE.svs: not a slide' } },
    { id: 6, at: '2026-03-01T10:00:01.000Z', actor: 'web', kind: 'review.saved', subject: 'slide:3', details: { user: 'dr-x' } },
  ], (id) => (id === 3 ? 'cd'.repeat(32) : undefined));
  assert.equal(rest.length, 0, 'kinds outside the allow-list stay on the box');
  assert.deepEqual(JSON.parse(String(message.payload)), {
    type: 'event', idempotencyKey: 'event:box-1:5', deviceId: 'box-1', at: '2026-03-01T10:00:00.000Z', kind: 'slide.rejected', slideSha256: 'cd'.repeat(32),
  });
});

test('an answer from the cloud is validated and stripped to the known fields', () => {
  const parsed = secondOpinionResponseSchema.parse({
    type: 'second-opinion.response', idempotencyKey: 'response:r', requestId: 'r', respondedAt: '2026-03-01T10:00:00Z', opinion: 'agree', script: '<x>',
  });
  assert.deepEqual(Object.keys(parsed).sort(), ['idempotencyKey', 'opinion', 'requestId', 'respondedAt', 'type']);
  assert.equal(secondOpinionResponseSchema.safeParse({ type: 'second-opinion.response', requestId: 'r', opinion: '' }).success, false);
});
