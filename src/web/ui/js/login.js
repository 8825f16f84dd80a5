import { api, setCsrfToken } from './api.js';
import { $ } from './dom.js';

/** Only paths on this box: an absolute or protocol-relative "next" would make the login page an open redirect. */
function nextPage() {
  const next = new URLSearchParams(location.search).get('next');
  return next && next.startsWith('/') && !next.startsWith('//') ? next : '/worklist.html';
}

$('#login-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const message = $('#login-error');
  message.textContent = '';
  const button = $('#login-button');
  button.disabled = true;
  try {
    const answer = await api('/api/login', { method: 'POST', body: { username: $('#username').value.trim(), password: $('#password').value } });
    setCsrfToken(answer.csrfToken);
    location.href = nextPage();
  } catch (error) {
    message.textContent = error.message;
    button.disabled = false;
  }
});
