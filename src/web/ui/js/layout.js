import { api, whoAmI } from './api.js';
import { h } from './dom.js';

const PAGES = [
  { href: '/worklist.html', label: 'Worklist' },
  { href: '/device.html', label: 'Device' },
];

/** Renders the top bar (hospital, pages, user, log out) and returns who is logged in. */
export async function startPage() {
  const me = await whoAmI();
  const top = document.getElementById('top');
  top.replaceChildren(
    h('a', { class: 'brand', href: '/worklist.html' }, 'pathbox', h('span', { class: 'hospital' }, me.hospital.name)),
    h('nav', {}, PAGES.map((page) => h('a', { href: page.href, class: location.pathname === page.href ? 'active' : null }, page.label))),
    h('span', { class: 'user', id: 'current-user' }, `${me.user.username} (${me.user.role})`),
    h('button', {
      type: 'button', id: 'logout', class: 'secondary',
      onclick: async () => {
        await api('/api/logout', { method: 'POST' });
        location.href = '/index.html';
      },
    }, 'Log out'),
  );
  return me;
}
