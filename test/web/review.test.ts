/**
 * The pathologist's path through one slide: decisions on the AI finding and on regions, sign-out to a
 * final result, and what the worklist, report, exports and audit log then say.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { login, testBox, USERNAMES, type LoggedIn, type TestBox } from './helpers.ts';

let box: TestBox;
let pathologist: LoggedIn;

before(async () => {
  box = await testBox();
  pathologist = await login(box.app, 'pathologist');
});
after(() => box.close());

const get = (url: string) => box.app.inject({ method: 'GET', url, headers: { cookie: pathologist.cookie } });
const post = (url: string, payload: object) => box.app.inject({ method: 'POST', url, payload, headers: { cookie: pathologist.cookie, 'x-csrf-token': pathologist.csrf } });

interface Fhir {
  entry: { resource: { resourceType: string; status: string; conclusion?: string; resultsInterpreter?: { display: string }[]; result?: { reference: string }[]; note?: { text: string }[]; component?: unknown[] } ; fullUrl: string }[];
}

test('review → sign-out → final: worklist, report, GeoJSON, FHIR and the audit log follow', async () => {
  const id = box.slideId;
  const before = (await get(`/api/slides/${id}`)).json();
  assert.equal(before.result.status, 'preliminary');
  assert.ok(before.result.rois.length >= 2, 'the analysis found regions to review');

  const rejected = await post(`/api/slides/${id}/review`, { resultId: box.resultId, target: 'roi', roi: 1, decision: 'reject', comment: 'stroma, not tumour' });
  assert.equal(rejected.statusCode, 201, rejected.body);
  assert.equal((await post(`/api/slides/${id}/review`, { resultId: box.resultId, target: 'slide', decision: 'confirm' })).statusCode, 201);
  const amended = await post(`/api/slides/${id}/review`, { resultId: box.resultId, target: 'slide', decision: 'amend', label: 'moderately cellular' });
  assert.equal(amended.statusCode, 201);

  const listed = (await get('/api/slides')).json().slides.find((s: { id: number }) => s.id === id);
  assert.equal(listed.review.decision, 'amend', 'the latest decision counts');
  assert.equal(listed.review.amendedLabel, 'moderately cellular');
  assert.equal(listed.review.reviewer, USERNAMES.pathologist);
  assert.equal(listed.signOut, null);

  const signed = await post(`/api/slides/${id}/sign-out`, { resultId: box.resultId, conclusion: 'Moderately cellular tissue; no further action.' });
  assert.equal(signed.statusCode, 200, signed.body);
  assert.equal(signed.json().signOut.reviewer, USERNAMES.pathologist);

  const detail = (await get(`/api/slides/${id}`)).json();
  assert.equal(detail.result.status, 'final');
  assert.equal(detail.reviews.length, 3, 'earlier decisions are kept as history');
  assert.equal(detail.signOut.conclusion, 'Moderately cellular tissue; no further action.');
  assert.equal(box.store.latestResult(id)!.status, 'final');

  const late = await post(`/api/slides/${id}/review`, { resultId: box.resultId, target: 'slide', decision: 'reject' });
  assert.equal(late.statusCode, 409, 'a final result takes no more reviews');
  assert.match(late.json().message, /signed out/);
  assert.equal((await post(`/api/slides/${id}/sign-out`, { resultId: box.resultId, conclusion: 'again' })).statusCode, 409);
  assert.throws(() => box.store.db.prepare("INSERT INTO reviews (slide_id, result_id, target, decision, user_id, reviewer) VALUES (?, ?, 'slide', 'confirm', 1, 'x')").run(id, box.resultId),
    /signed out/, 'the database refuses it too');

  const report = (await get(`/api/slides/${id}/report`)).json();
  assert.equal(report.result.status, 'final');
  assert.equal(report.hospital.name, 'Test County Hospital');
  assert.equal(report.slideReview.amendedLabel, 'moderately cellular');
  assert.equal(report.result.rois[1].review.decision, 'reject');
  assert.equal(report.result.rois[0].review, null);
  assert.match(report.result.model.digest, /^sha256:[0-9a-f]{64}$/);

  const geojson = (await get(`/api/slides/${id}/rois.geojson?download=1`));
  assert.match(String(geojson.headers['content-disposition']), /attachment/);
  const features = geojson.json().features;
  assert.equal(features[1].properties.review.decision, 'reject');
  assert.equal(features[1].properties.review.by, USERNAMES.pathologist);
  assert.equal(features[0].properties.review, undefined);
  assert.equal(features[1].properties.classification.name.length > 0, true, 'QuPath classification kept');

  const fhir = (await get(`/api/slides/${id}/fhir.json`)).json() as Fhir;
  const reportResource = fhir.entry.find((e) => e.resource.resourceType === 'DiagnosticReport')!;
  const observation = fhir.entry.find((e) => e.resource.resourceType === 'Observation')!;
  assert.equal(reportResource.resource.status, 'final');
  assert.equal(observation.resource.status, 'final');
  assert.equal(reportResource.resource.conclusion, 'Moderately cellular tissue; no further action.');
  assert.deepEqual(reportResource.resource.resultsInterpreter, [{ display: USERNAMES.pathologist }]);
  assert.equal(reportResource.resource.result![0].reference, observation.fullUrl, 'the report points at its observation');
  assert.equal(observation.resource.component!.length, before.result.rois.length);
  assert.match(observation.resource.note![0].text, /amended by paula/);

  const kinds = box.store.recentEvents({ limit: 50 }).filter((e) => e.actor === USERNAMES.pathologist).map((e) => e.kind);
  for (const kind of ['auth.login', 'review.reject', 'review.confirm', 'review.amend', 'report.signed-out', 'report.exported']) assert.ok(kinds.includes(kind), `audit has ${kind}: ${kinds.join(', ')}`);
});

test('a FHIR export before sign-out is preliminary and says the conclusion is the AI\'s', async () => {
  const { analysedSlide } = await import('./helpers.ts');
  const other = await analysedSlide(box.store, box.dir, { width: 2048, height: 1536, seed: 9 });
  const fhir = (await get(`/api/slides/${other.slideId}/fhir.json`)).json() as Fhir;
  const report = fhir.entry[0].resource;
  assert.equal(report.status, 'preliminary');
  assert.match(report.conclusion!, /\(AI, not signed out\)$/);
  assert.equal(report.resultsInterpreter, undefined);

  // A re-analysis supersedes the result: decisions on the old one are refused, so nobody signs stale findings.
  const old = box.store.latestResult(other.slideId)!;
  box.store.db.prepare("INSERT INTO jobs (slide_id, state) VALUES (?, 'queued')").run(other.slideId);
  const job = box.store.claimNextJob('test', 60_000)!;
  box.store.completeJob(job.id, 'test', { ...old, modelRelease: old.modelRelease, outputDir: old.outputDir });
  const stale = await post(`/api/slides/${other.slideId}/review`, { resultId: old.id, target: 'slide', decision: 'confirm' });
  assert.equal(stale.statusCode, 409);
  assert.match(stale.json().message, /superseded by result \d+/);
});
