/** The dashboard over HTTPS (a provisioning-style certificate): Secure cookies and HSTS. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { Store } from '../../src/store/index.ts';
import { addUser, startWebServer } from '../../src/web/index.ts';

const openssl = spawnSync('openssl', ['version'], { stdio: 'ignore' }).status === 0;

function post(url: string, body: object): Promise<{ status: number; headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    // The certificate is self-signed, as one made at provisioning is until the hospital's CA signs it.
    const req = request(url, { method: 'POST', rejectUnauthorized: false, headers: { 'content-type': 'application/json' } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

test('HTTPS: the session cookie is Secure and browsers are told to stay on HTTPS', { skip: openssl ? false : 'openssl is not installed' }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'pathbox-https-'));
  const [cert, key] = [path.join(dir, 'cert.pem'), path.join(dir, 'key.pem')];
  const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=pathbox.local'], { encoding: 'utf8' });
  assert.equal(made.status, 0, made.stderr);
  const store = Store.open(path.join(dir, 'pathbox.db'));
  await addUser(store, 'paula', 'pathologist', 'patho-password-1', 'test');
  const server = await startWebServer({ store, logger: pino({ level: 'silent' }), dataDir: dir, hospital: { name: 'TLS Hospital' }, tls: { cert, key }, host: '127.0.0.1', port: 0 });
  try {
    assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+\/$/);
    const response = await post(`${server.url}api/login`, { username: 'paula', password: 'patho-password-1' });
    assert.equal(response.status, 200);
    assert.match(String(response.headers['set-cookie']), /; HttpOnly; Secure; SameSite=Strict/);
    assert.equal(response.headers['strict-transport-security'], 'max-age=31536000');
  } finally {
    await server.close();
    store.close();
  }
});
