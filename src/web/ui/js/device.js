import { api } from './api.js';
import { $, formatBytes, formatDate, h } from './dom.js';
import { startPage } from './layout.js';

const REFRESH_MS = 5000;

function card(title, ...content) {
  return h('section', { class: 'card' }, h('h2', {}, title), ...content);
}

function facts(pairs) {
  return h('table', { class: 'facts' }, pairs.filter(Boolean).map(([label, value]) => h('tr', {}, h('th', {}, label), h('td', {}, value ?? '—'))));
}

function modelsTable(models) {
  return h('table', { class: 'list models' },
    h('tr', {}, h('th', {}, 'Model'), h('th', {}, 'Version'), h('th', {}, 'Release'), h('th', {}, 'Origin'), h('th', {}, 'Status')),
    models.map((m) => h('tr', {},
      h('td', {}, m.id), h('td', {}, m.version), h('td', {}, m.releaseCounter ?? '—'), h('td', {}, m.origin),
      h('td', {}, m.error ? h('span', { class: 'problem' }, m.error) : m.active ? 'active' : m.previous ? 'previous (rollback target)' : ''))));
}

function updatesTable(updates) {
  if (!updates.length) return h('p', { class: 'muted' }, 'No model update has run on this box.');
  return h('table', { class: 'list updates' },
    h('tr', {}, h('th', {}, 'Started'), h('th', {}, 'Model'), h('th', {}, 'State'), h('th', {}, 'Reason'), h('th', {}, 'Finished'), h('th', {}, 'History')),
    updates.map((u) => h('tr', {},
      h('td', {}, formatDate(u.createdAt)),
      h('td', {}, u.modelId ? `${u.modelId} ${u.version ?? ''}` : '—', u.previousVersion ? h('div', { class: 'muted small' }, `was ${u.previousVersion}`) : null),
      h('td', {}, u.state),
      h('td', {}, u.reason ?? '', u.detail ? h('div', { class: 'muted small' }, u.detail) : null),
      h('td', {}, formatDate(u.finishedAt)),
      h('td', {}, h('ol', { class: 'small' }, u.history.map((s) => h('li', {}, `${formatDate(s.at)} ${s.toState}${s.reason ? ` (${s.reason})` : ''}`)))))));
}

function render(d) {
  const { health } = d;
  const memoryUsed = health.memory ? `${formatBytes(health.memory.totalBytes - health.memory.availableBytes)} of ${formatBytes(health.memory.totalBytes)}` : null;
  const selection = d.hardwareDecision.selection;
  $('#device').replaceChildren(
    card('Health', facts([
      ['Daemon', d.daemon ? `${d.daemon.alive ? 'running' : 'not responding'} (pid ${d.daemon.pid}, since ${formatDate(d.daemon.startedAt)})` : 'no heartbeat'],
      ['CPU load', health.cpuLoadPercent === null ? null : `${health.cpuLoadPercent}%`],
      ['Memory used', memoryUsed],
      ['Temperature', health.temperatureC === null ? 'no sensor' : `${health.temperatureC} °C`],
      ['Disk free', `${formatBytes(health.disk.freeBytes)} of ${formatBytes(health.disk.totalBytes)}`],
      health.disk.ingestPaused ? ['Ingest', h('span', { class: 'problem' }, health.disk.reason)] : null,
      ...health.inboxes.filter((i) => i.error).map((i) => [`Inbox ${i.path}`, h('span', { class: 'problem' }, i.error)]),
    ])),
    card('Slides', facts([
      ...Object.entries(d.slides).map(([state, n]) => [state, String(n)]),
      ['Waiting in queue', String(d.queueDepth)],
    ])),
    card('Models', d.models.error ? h('p', { class: 'problem' }, d.models.error) : modelsTable(d.models)),
    card('Model updates', updatesTable(d.updates)),
    card('Hardware decision',
      selection ? facts([['Variant', selection.variant], ['Runs on', selection.executionProvider]]) : h('p', { class: 'muted' }, 'No model serving (daemon not running).'),
      selection ? h('ul', { class: 'reasons' }, selection.reasons.map((r) => h('li', {}, r))) : null,
      facts([
        ['CPU', d.hardwareDecision.cpu ? `${d.hardwareDecision.cpu.model} (${d.hardwareDecision.cpu.cores} cores, ${d.hardwareDecision.cpu.flags.join(' ')})` : null],
        ['Memory', d.hardwareDecision.memoryMB ? `${d.hardwareDecision.memoryMB} MB` : null],
        ['GPUs', d.hardwareDecision.gpus.map((g) => g.model).join(', ') || 'none'],
        ['Accelerators', d.hardwareDecision.accelerators.map((a) => a.name).join(', ') || 'none'],
        ['Providers', d.hardwareDecision.executionProviders?.available.join(', ')],
      ]),
      d.hardwareDecision.warnings.length ? h('ul', { class: 'muted small' }, d.hardwareDecision.warnings.map((w) => h('li', {}, w))) : null),
    card('Cloud sync', facts([
      ['Configured', d.sync.configured ? `yes (${d.sync.broker}, device ${d.sync.deviceId ?? 'auto'})` : 'no'],
      ['Waiting to send', `${d.sync.outbox.normal} results/events, ${d.sync.outbox.bulk} second-opinion parts`],
      ['Cloud receipts', String(d.sync.cloudReceipts)],
      ['Slides synced', String(d.sync.slidesSynced)],
      ['Bytes sent', formatBytes(d.sync.bytesSent)],
      ['Bytes saved', `${formatBytes(d.sync.bytesSaved)} (slide files of ${formatBytes(d.sync.slideBytes)} never uploaded)`],
    ])),
    card('USB devices',
      d.usb.attached.length ? h('ul', {}, d.usb.attached.map((u) => h('li', {}, `${u.name} (${u.kind}), attached ${formatDate(u.attachedAt)}`))) : h('p', { class: 'muted' }, 'No accelerator, scanner or storage device attached.'),
      d.usb.bus && !d.usb.bus.available ? h('p', { class: 'muted small' }, `USB bus: ${d.usb.bus.reason}`) : null),
  );
  document.body.dataset.device = 'ready';
}

async function refresh() {
  try {
    render(await api('/api/device'));
  } catch (error) {
    $('#device').replaceChildren(h('p', { class: 'problem' }, error.message));
  }
}

await startPage();
await refresh();
setInterval(refresh, REFRESH_MS);
