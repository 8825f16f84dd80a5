// Small DOM helpers: elements are built with textContent, never from HTML strings, so names and
// messages from the box can never turn into markup.

export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') element.addEventListener(name.slice(2), value);
    else if (name === 'dataset') Object.assign(element.dataset, value);
    else element.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

export function $(selector) {
  return document.querySelector(selector);
}

export function formatDate(iso) {
  if (!iso) return '';
  const date = new Date(iso);
  return `${date.toLocaleDateString()} ${date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}`;
}

export function formatBytes(bytes) {
  if (bytes === null || bytes === undefined) return '—';
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value.toFixed(value < 10 && unit > 0 ? 1 : 0)} ${units[unit]}`;
}

export function formatScore(score) {
  return score === null || score === undefined ? '—' : Number(score).toFixed(3);
}

/** A short-lived message at the bottom of the page. */
export function toast(message, kind = 'info') {
  const element = h('div', { class: `toast toast-${kind}`, role: 'status' }, message);
  document.body.append(element);
  setTimeout(() => element.remove(), 4000);
}

export function slideIdFromUrl() {
  const id = Number(new URLSearchParams(location.search).get('slide'));
  return Number.isInteger(id) && id > 0 ? id : null;
}

export const DECISION_TEXT = { confirm: 'confirmed', reject: 'rejected', amend: 'amended' };
