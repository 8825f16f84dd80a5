import { api } from './api.js';
import { $, DECISION_TEXT, formatDate, formatScore, h, slideIdFromUrl, toast } from './dom.js';
import { startPage } from './layout.js';
import { attachScaleBar } from './scale-bar.js';

const OpenSeadragon = window.OpenSeadragon;
const slideId = slideIdFromUrl();
let detail = null;
let viewer = null;
let heatmap = null;
const roiOverlays = [];

function showMessage(text) {
  const box = $('#viewer-message');
  box.textContent = text;
  box.hidden = false;
}

function latestDecisions() {
  const latest = new Map();
  for (const review of detail.reviews) latest.set(review.target, review);
  return latest;
}

function isFinal() {
  return detail.result?.status === 'final';
}

function renderPanel() {
  const { slide, result } = detail;
  $('#slide-name').textContent = slide.name;
  $('#slide-facts').textContent = [
    slide.width && `${slide.width} × ${slide.height} px`,
    detail.mpp && `${detail.mpp[0]} µm/px`,
    detail.objectivePower && `${detail.objectivePower}×`,
    slide.vendor,
    `received ${formatDate(slide.createdAt)}`,
  ].filter(Boolean).join(' · ');
  const problem = $('#slide-problem');
  if (slide.state === 'failed' || slide.state === 'rejected') {
    problem.textContent = `${slide.state === 'failed' ? 'Analysis failed' : 'Slide not accepted'}: ${slide.error ?? 'no reason recorded'}`;
    problem.hidden = false;
  } else if (!result) {
    problem.textContent = slide.state === 'running' ? 'Analysis running…' : 'Waiting for analysis.';
    problem.hidden = false;
  }
  if (!result) return;
  $('#finding-section').hidden = false;
  $('#finding-label').textContent = result.finding.label;
  $('#finding-score').textContent = `score ${formatScore(result.finding.score)} (${result.finding.positive ? 'positive' : 'negative'})`;
  $('#model-line').textContent = `Model ${result.model.id} ${result.model.version}${result.model.researchOnly ? ' — research use only' : ''} · ${result.status}`;
  const decisions = latestDecisions();
  const slideDecision = decisions.get('slide');
  $('#slide-decision').textContent = slideDecision
    ? `AI finding ${DECISION_TEXT[slideDecision.decision]}${slideDecision.amendedLabel ? `: ${slideDecision.amendedLabel}` : ''} by ${slideDecision.reviewer}, ${formatDate(slideDecision.createdAt)}`
    : 'Not reviewed yet.';
  for (const id of ['#confirm-finding', '#reject-finding', '#amend-finding']) $(id).disabled = isFinal();
  $('#roi-list').replaceChildren(...result.rois.map((roi, index) => {
    const decision = decisions.get(`roi:${index}`);
    return h('li', { dataset: { roi: index } },
      h('button', { type: 'button', class: 'link', onclick: () => goToRoi(index) }, `Region ${index + 1}`),
      ` score ${formatScore(roi.score)} `,
      decision ? h('span', { class: `badge decision-${decision.decision}` }, DECISION_TEXT[decision.decision]) : null,
      isFinal() ? null : h('span', { class: 'roi-actions' },
        h('button', { type: 'button', class: 'small', title: 'confirm region', onclick: () => review({ target: 'roi', roi: index, decision: 'confirm' }) }, '✓'),
        h('button', { type: 'button', class: 'small danger', title: 'reject region', onclick: () => review({ target: 'roi', roi: index, decision: 'reject' }) }, '✗')));
  }));
  const signOut = detail.signOut;
  $('#sign-out-form').hidden = !!signOut;
  $('#sign-out-done').hidden = !signOut;
  if (signOut) $('#sign-out-done').replaceChildren(h('p', { class: 'final-note' }, `Final — signed out by ${signOut.reviewer}, ${formatDate(signOut.signedAt)}`), h('p', {}, signOut.conclusion));
  else if (!$('#conclusion').value) $('#conclusion').value = slideDecision?.amendedLabel ?? result.finding.label;
  $('#sign-out-button').disabled = !slideDecision;
  $('#sign-out-button').title = slideDecision ? '' : 'Confirm, reject or amend the AI finding first';
  $('#report-link').href = `/report.html?slide=${slideId}`;
  $('#geojson-link').href = `/api/slides/${slideId}/rois.geojson?download=1`;
  $('#fhir-link').href = `/api/slides/${slideId}/fhir.json`;
}

async function reload() {
  detail = await api(`/api/slides/${slideId}`);
  renderPanel();
}

async function review(body) {
  try {
    await api(`/api/slides/${slideId}/review`, { method: 'POST', body: { resultId: detail.result.id, ...body } });
    toast(`${body.target === 'slide' ? 'AI finding' : `Region ${body.roi + 1}`} ${DECISION_TEXT[body.decision]}`);
    await reload();
  } catch (error) {
    toast(error.message, 'error');
  }
}

function roiRect(roi) {
  return viewer.world.getItemAt(0).imageToViewportRectangle(roi.x, roi.y, roi.width, roi.height);
}

function goToRoi(index) {
  const rect = roiRect(detail.result.rois[index]);
  const margin = rect.width;
  viewer.viewport.fitBounds(new OpenSeadragon.Rect(rect.x - margin, rect.y - margin, rect.width + 2 * margin, rect.height + 2 * margin));
  document.querySelectorAll('.roi-outline').forEach((el, i) => el.classList.toggle('current', i === index));
}

function heatmapOpacity() {
  return $('#heatmap-toggle').checked ? Number($('#heatmap-opacity').value) / 100 : 0;
}

function addOverlays() {
  const { result } = detail;
  if (!result) return;
  viewer.addSimpleImage({
    url: `/api/slides/${slideId}/heatmap.png`, x: 0, y: 0, width: 1, opacity: heatmapOpacity(),
    success: (event) => {
      heatmap = event.item;
      document.body.dataset.heatmap = 'loaded';
      applyHeatmapOpacity();
    },
    error: () => toast('heatmap not available', 'warn'),
  });
  result.rois.forEach((roi, index) => {
    const element = h('div', { class: 'roi-outline', title: `Region ${index + 1}: score ${formatScore(roi.score)}` }, h('span', {}, String(index + 1)));
    viewer.addOverlay({ element, location: roiRect(roi) });
    roiOverlays.push(element);
  });
}

function startViewer() {
  viewer = OpenSeadragon({
    id: 'osd',
    prefixUrl: '/vendor/openseadragon/images/',
    tileSources: `/api/slides/${slideId}/dzi`,
    drawer: 'canvas',
    showNavigator: true,
    navigatorPosition: 'BOTTOM_RIGHT',
    maxZoomPixelRatio: 2,
    visibilityRatio: 0.5,
    gestureSettingsMouse: { clickToZoom: false },
  });
  viewer.addOnceHandler('open', () => {
    addOverlays();
    if (detail.mpp) attachScaleBar(viewer, detail.mpp[0], $('#scale-bar'));
    document.body.dataset.viewer = 'open';
  });
  viewer.addHandler('open-failed', () => showMessage('The slide cannot be shown (see the reason on the right).'));
  viewer.addHandler('tile-loaded', () => (document.body.dataset.tiles = 'loaded'));
}

function applyHeatmapOpacity() {
  if (!heatmap) return;
  heatmap.setOpacity(heatmapOpacity());
  document.body.dataset.heatmapOpacity = String(heatmapOpacity());
}

$('#heatmap-toggle').addEventListener('change', applyHeatmapOpacity);
$('#heatmap-opacity').addEventListener('input', applyHeatmapOpacity);
$('#rois-toggle').addEventListener('change', () => roiOverlays.forEach((el) => (el.hidden = !$('#rois-toggle').checked)));
$('#confirm-finding').addEventListener('click', () => review({ target: 'slide', decision: 'confirm' }));
$('#reject-finding').addEventListener('click', () => review({ target: 'slide', decision: 'reject' }));
$('#amend-finding').addEventListener('click', () => {
  $('#amend-form').hidden = false;
  $('#amend-label').focus();
});
$('#amend-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const comment = $('#amend-comment').value.trim();
  await review({ target: 'slide', decision: 'amend', label: $('#amend-label').value.trim(), ...(comment ? { comment } : {}) });
  $('#amend-form').hidden = true;
});
$('#sign-out-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  try {
    await api(`/api/slides/${slideId}/sign-out`, { method: 'POST', body: { resultId: detail.result.id, conclusion: $('#conclusion').value } });
    toast('Signed out: the report is final');
    await reload();
  } catch (error) {
    toast(error.message, 'error');
  }
});

await startPage();
if (slideId === null) {
  showMessage('No slide given: open one from the worklist.');
} else {
  await reload();
  if (detail.slide.state !== 'rejected') startViewer();
}
