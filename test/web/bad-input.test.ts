/**
 * Hostile and broken requests get a clear 4xx, never a 500: path traversal, levels and tiles outside the
 * pyramid, unknown slides, oversized, malformed and unexpected bodies, slides whose file is unreadable.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { login, testBox, type LoggedIn, type TestBox } from './helpers.ts';

let box: TestBox;
let pathologist: LoggedIn;

before(async () => {
  box = await testBox();
  pathologist = await login(box.app, 'pathologist');
});
after(() => box.close());

async function get(url: string) {
  return box.app.inject({ method: 'GET', url, headers: { cookie: pathologist.cookie } });
}

async function post(url: string, payload: string | object, headers: Record<string, string> = {}) {
  return box.app.inject({
    method: 'POST', url, payload,
    headers: { cookie: pathologist.cookie, 'x-csrf-token': pathologist.csrf, ...(typeof payload === 'string' ? { 'content-type': 'application/json' } : {}), ...headers },
  });
}

function assertClientError(response: { statusCode: number; body: string }, expected: number, what: string): void {
  assert.equal(response.statusCode, expected, `${what}: ${response.statusCode} ${response.body.slice(0, 200)}`);
  if (response.statusCode !== 304) assert.match(response.body, /"message":"[^"]+"/, `${what} has no message`);
}

test('path traversal in tile, snapshot and static URLs is refused, and no file outside the UI is served', async () => {
  const id = box.slideId;
  const attempts: [string, number][] = [
    [`/api/slides/${id}/tiles/12/..%2F..%2F..%2Fetc%2Fpasswd`, 400],
    [`/api/slides/${id}/tiles/12/0_0.jpeg%00.png`, 400],
    [`/api/slides/${id}/rois/..%2F..%2Fpathbox.db`, 400],
    [`/api/slides/..%2F${id}/dzi`, 400],
    ['/../../../../etc/passwd', 404],
    ['/%2e%2e/%2e%2e/etc/passwd', 404],
    ['/vendor/openseadragon/../../../package.json', 404],
    ['/vendor/openseadragon/%2e%2e%2f%2e%2e%2fpackage.json', 404],
    ['/js/..%2f..%2fserver.ts', 404],
  ];
  for (const [url, status] of attempts) {
    const response = await get(url);
    assertClientError(response, status, url);
    assert.doesNotMatch(response.body, /root:|"dependencies"|SQLite format/, url);
  }
});

test('Deep Zoom levels and tiles outside the pyramid are 4xx with the reason', async () => {
  const id = box.slideId;
  // 4096 x 3072 with 256-pixel tiles: levels 0-12, level 12 is 16 x 12 tiles.
  const cases: [string, number, RegExp][] = [
    [`/api/slides/${id}/tiles/13/0_0.jpeg`, 404, /level 13 does not exist/],
    [`/api/slides/${id}/tiles/99/0_0.jpeg`, 400, /level/],
    [`/api/slides/${id}/tiles/-1/0_0.jpeg`, 400, /level/],
    [`/api/slides/${id}/tiles/abc/0_0.jpeg`, 400, /level/],
    [`/api/slides/${id}/tiles/12/16_0.jpeg`, 404, /outside Deep Zoom level 12 \(16 x 12 tiles\)/],
    [`/api/slides/${id}/tiles/12/0_12.jpeg`, 404, /outside/],
    [`/api/slides/${id}/tiles/0/1_0.jpeg`, 404, /outside/],
    [`/api/slides/${id}/tiles/12/99999999_0.jpeg`, 400, /tile/],
    [`/api/slides/${id}/tiles/12/0_0.png`, 400, /tile/],
    [`/api/slides/${id}/tiles/12/0-0.jpeg`, 400, /tile/],
    [`/api/slides/${id}/tiles/12/-1_0.jpeg`, 400, /tile/],
  ];
  for (const [url, status, reason] of cases) {
    const response = await get(url);
    assertClientError(response, status, url);
    assert.match(response.json().message, reason, url);
  }
  const edge = await get(`/api/slides/${id}/tiles/12/15_11.jpeg`);
  assert.equal(edge.statusCode, 200, 'the last tile of the top level exists');
});

test('unknown, malformed and unreadable slides: 400, 404, 422 or 503, never 500', async () => {
  const cases: [string, number][] = [
    ['/api/slides/999999', 404],
    ['/api/slides/999999/dzi', 404],
    ['/api/slides/0', 400],
    ['/api/slides/1.5', 400],
    ['/api/slides/99999999999999999999/dzi', 400],
    [`/api/slides/${box.failedSlideId}/heatmap.png`, 404],
    [`/api/slides/${box.failedSlideId}/report`, 404],
    [`/api/slides/${box.failedSlideId}/dzi`, 503],
    [`/api/slides/${box.rejectedSlideId}/dzi`, 422],
    [`/api/slides/${box.rejectedSlideId}/tiles/0/0_0.jpeg`, 422],
    [`/api/slides/${box.slideId}/rois/99.jpeg`, 404],
    [`/api/slides/${box.slideId}/rois.geojson?download=2`, 400],
    [`/api/slides/${box.slideId}/rois.geojson?path=/etc/passwd`, 400],
    ['/api/no-such-route', 404],
  ];
  for (const [url, status] of cases) assertClientError(await get(url), status, url);
  const failed = (await get(`/api/slides/${box.failedSlideId}`)).json();
  assert.equal(failed.slide.state, 'failed');
  assert.equal(failed.slide.error, 'TIFF directory loops back on itself', "a failed slide's record carries its reason");
});

test('oversized, malformed, mistyped and unexpected bodies are refused with 4xx', async () => {
  const review = `/api/slides/${box.slideId}/review`;
  const valid = { resultId: box.resultId, target: 'slide', decision: 'confirm' };
  const cases: [string, () => ReturnType<typeof post>, number][] = [
    ['oversized login', () => box.app.inject({ method: 'POST', url: '/api/login', payload: { username: 'paula', password: 'x'.repeat(20_000) } }), 413],
    ['malformed JSON', () => post(review, '{"resultId": 1,'), 400],
    ['JSON that is not an object', () => post(review, '[1,2,3]'), 400],
    ['text body', () => post(review, 'decision=confirm', { 'content-type': 'text/plain' }), 415],
    ['form body', () => post(review, 'decision=confirm', { 'content-type': 'application/x-www-form-urlencoded' }), 415],
    ['missing field', () => post(review, { resultId: box.resultId, target: 'slide' }), 400],
    ['unknown field', () => post(review, { ...valid, reviewer: 'someone-else' }), 400],
    ['bad decision', () => post(review, { ...valid, decision: 'approve' }), 400],
    ['amend without label', () => post(review, { ...valid, decision: 'amend' }), 400],
    ['label without amend', () => post(review, { ...valid, label: 'benign' }), 400],
    ['roi index outside the result', () => post(review, { ...valid, target: 'roi', roi: 500 }), 400],
    ['roi target without index', () => post(review, { ...valid, target: 'roi' }), 400],
    ['negative result id', () => post(review, { ...valid, resultId: -1 }), 400],
    ['result of another slide', () => post(review, { ...valid, resultId: box.resultId + 1000 }), 404],
    ['overlong comment', () => post(review, { ...valid, comment: 'x'.repeat(2001) }), 400],
    ['blank conclusion', () => post(`/api/slides/${box.slideId}/sign-out`, { resultId: box.resultId, conclusion: '   ' }), 400],
    ['sign-out before any decision', () => post(`/api/slides/${box.slideId}/sign-out`, { resultId: box.resultId, conclusion: 'benign' }), 409],
    ['login without password', () => box.app.inject({ method: 'POST', url: '/api/login', payload: { username: 'paula' } }), 400],
    ['login with an object as name', () => box.app.inject({ method: 'POST', url: '/api/login', payload: { username: { $ne: '' }, password: 'x' } }), 400],
  ];
  for (const [what, send, status] of cases) assertClientError(await send(), status, what);
  // None of the refused requests left a trace.
  const after = (await get(`/api/slides/${box.slideId}`)).json();
  assert.deepEqual(after.reviews, []);
  assert.equal(after.result.status, 'preliminary');
});

test('retrying a slide that did not fail is a conflict, not a crash', async () => {
  const technician = await login(box.app, 'technician');
  const response = await box.app.inject({ method: 'POST', url: `/api/slides/${box.slideId}/retry`, headers: { cookie: technician.cookie, 'x-csrf-token': technician.csrf } });
  assertClientError(response, 409, 'retry of a done slide');
});

test('tiles are cacheable by the browser only, and a repeat with the ETag costs no slide read', async () => {
  const url = `/api/slides/${box.slideId}/tiles/12/1_1.jpeg`;
  const first = await get(url);
  assert.equal(first.statusCode, 200);
  assert.equal(first.headers['cache-control'], 'private, max-age=86400, immutable');
  const etag = String(first.headers.etag);
  const again = await box.app.inject({ url, headers: { cookie: pathologist.cookie, 'if-none-match': etag } });
  assert.equal(again.statusCode, 304);
  assert.equal(again.body, '');
  const other = await box.app.inject({ url: `/api/slides/${box.slideId}/tiles/12/1_2.jpeg`, headers: { cookie: pathologist.cookie, 'if-none-match': etag } });
  assert.equal(other.statusCode, 200, "another tile's ETag does not match");
});
