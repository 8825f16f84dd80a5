import { api } from './api.js';
import { $, DECISION_TEXT, formatDate, formatScore, h, toast } from './dom.js';
import { startPage } from './layout.js';

const STATE_TEXT = { queued: 'queued', running: 'analysing', done: 'done', failed: 'failed', rejected: 'rejected' };
const rows = new Map();
let selectedId = null;
let me = null;

const isPathologist = () => me.user.role === 'pathologist';

function needsReview(row) {
  return row.state === 'done' && row.result && row.result.status === 'preliminary' && !row.review;
}

function visibleRows() {
  const state = $('#filter-state').value;
  const text = $('#filter-text').value.trim().toLowerCase();
  const unreviewed = $('#filter-unreviewed').checked;
  const positive = $('#filter-positive').checked;
  return [...rows.values()]
    .filter((r) => !state || r.state === state)
    .filter((r) => !text || r.name.toLowerCase().includes(text))
    .filter((r) => !unreviewed || needsReview(r))
    .filter((r) => !positive || r.result?.positive === true)
    .sort((a, b) => b.priority - a.priority || b.id - a.id);
}

function stateCell(row) {
  const badge = h('span', { class: `badge state-${row.state}` }, STATE_TEXT[row.state] ?? row.state);
  if (row.state === 'running' && row.progress && row.progress.total > 0) {
    const percent = Math.round((100 * row.progress.done) / row.progress.total);
    return h('td', {}, badge, ' ', h('progress', { max: row.progress.total, value: row.progress.done, title: `${percent}%` }), ` ${percent}%`);
  }
  if ((row.state === 'failed' || row.state === 'rejected') && row.error) return h('td', {}, badge, h('div', { class: 'reason' }, row.error));
  return h('td', {}, badge);
}

function reviewCell(row) {
  if (!row.review) return h('td', { class: 'muted' }, needsReview(row) ? 'to review' : '');
  const text = `${DECISION_TEXT[row.review.decision]}${row.review.amendedLabel ? `: ${row.review.amendedLabel}` : ''}`;
  return h('td', {}, text, h('div', { class: 'muted small' }, `${row.review.reviewer}, ${formatDate(row.review.at)}`));
}

function actionsCell(row) {
  if (row.state === 'failed' && !isPathologist()) {
    return h('td', {}, h('button', { type: 'button', class: 'secondary small', onclick: () => retry(row) }, 'Retry'));
  }
  if (!row.result) return h('td', {});
  const status = row.result.status === 'final' ? h('span', { class: 'badge final' }, 'final') : h('span', { class: 'badge preliminary' }, 'preliminary');
  return h('td', {}, status, isPathologist() ? [' ', h('a', { href: `/report.html?slide=${row.id}` }, 'report')] : null);
}

function render() {
  const list = visibleRows();
  if (selectedId !== null && !list.some((r) => r.id === selectedId)) selectedId = list[0]?.id ?? null;
  $('#worklist-body').replaceChildren(...list.map((row) => {
    const name = isPathologist() && row.state !== 'rejected' ? h('a', { href: `/viewer.html?slide=${row.id}`, class: 'slide-link' }, row.name) : row.name;
    return h('tr', {
      dataset: { slideId: row.id }, class: row.id === selectedId ? 'selected' : null,
      onclick: () => select(row.id),
      ondblclick: () => open(row.id),
    },
    h('td', {}, row.priority >= 10 ? h('span', { class: 'badge urgent' }, 'urgent') : ''),
    h('td', {}, name),
    h('td', {}, formatDate(row.createdAt)),
    stateCell(row),
    h('td', { class: row.result?.positive ? 'positive' : null }, row.result?.findingLabel ?? ''),
    h('td', { class: 'number' }, row.result ? formatScore(row.result.findingScore) : ''),
    reviewCell(row),
    actionsCell(row));
  }));
  $('#empty').hidden = list.length > 0;
}

function select(id) {
  selectedId = id;
  render();
  document.querySelector(`tr[data-slide-id="${id}"]`)?.scrollIntoView({ block: 'nearest' });
}

function move(step) {
  const list = visibleRows();
  if (list.length === 0) return;
  const index = list.findIndex((r) => r.id === selectedId);
  select(list[Math.min(list.length - 1, Math.max(0, index + step))].id);
}

function open(id) {
  const row = rows.get(id);
  if (row && isPathologist() && row.state !== 'rejected') location.href = `/viewer.html?slide=${id}`;
}

/** Batch review: decide on the selected slide's AI finding and go on to the next one. */
async function decide(decision) {
  const row = rows.get(selectedId);
  if (!row || !isPathologist()) return;
  if (!row.result || row.result.status === 'final') {
    toast(`${row.name}: nothing to review`, 'warn');
    return;
  }
  try {
    await api(`/api/slides/${row.id}/review`, { method: 'POST', body: { resultId: row.result.id, target: 'slide', decision } });
    toast(`${row.name}: AI finding ${DECISION_TEXT[decision]}`);
    await refreshRow(row.id);
    move(1);
  } catch (error) {
    toast(error.message, 'error');
  }
}

async function retry(row) {
  try {
    await api(`/api/slides/${row.id}/retry`, { method: 'POST' });
    toast(`${row.name} queued again`);
    await refreshRow(row.id);
  } catch (error) {
    toast(error.message, 'error');
  }
}

async function refreshRow(id) {
  const detail = await api(`/api/slides/${id}`);
  rows.set(id, detail.slide);
  render();
}

function listen() {
  const events = new EventSource('/api/events');
  events.addEventListener('open', () => $('#live').classList.add('on'));
  events.addEventListener('error', () => $('#live').classList.remove('on'));
  events.addEventListener('slide', (event) => {
    const row = JSON.parse(event.data);
    rows.set(row.id, row);
    render();
  });
  events.addEventListener('progress', (event) => {
    const progress = JSON.parse(event.data);
    const row = rows.get(progress.slideId);
    if (!row) return;
    row.state = 'running';
    row.progress = { done: progress.done, total: progress.total };
    render();
  });
}

document.addEventListener('keydown', (event) => {
  if (event.target instanceof HTMLInputElement || event.target instanceof HTMLSelectElement || event.ctrlKey || event.metaKey || event.altKey) return;
  const actions = { j: () => move(1), ArrowDown: () => move(1), k: () => move(-1), ArrowUp: () => move(-1), Enter: () => open(selectedId), c: () => decide('confirm'), r: () => decide('reject') };
  const action = actions[event.key];
  if (!action) return;
  event.preventDefault();
  action();
});

for (const id of ['#filter-state', '#filter-unreviewed', '#filter-positive', '#filter-text']) $(id).addEventListener('input', render);

me = await startPage();
for (const row of (await api('/api/slides')).slides) rows.set(row.id, row);
selectedId = visibleRows()[0]?.id ?? null;
render();
listen();
