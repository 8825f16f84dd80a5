/** Accounts, passwords, sessions and login throttling. */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Store, WebStore } from '../../src/store/index.ts';
import { LoginRateLimiter } from '../../src/web/auth/rate-limit.ts';
import { generatePassword, hashPassword, verifyPassword } from '../../src/web/auth/passwords.ts';
import { addUser, DEMO_USERNAME, ensureDemoLogin, PasswordPolicyError } from '../../src/web/index.ts';
import { login, PASSWORDS, testBox, USERNAMES, type TestBox } from './helpers.ts';

let box: TestBox;

before(async () => {
  box = await testBox({ loginLimits: { windowMs: 60_000, perUsername: 3, perAddress: 50 } });
});
after(() => box.close());

const freshStore = () => Store.open(path.join(mkdtempSync(path.join(tmpdir(), 'pathbox-auth-')), 'pathbox.db'));

test('scrypt hashes: salted, self-describing, verified in constant time; malformed hashes never match', async () => {
  const a = await hashPassword('correct horse battery');
  const b = await hashPassword('correct horse battery');
  assert.match(a, /^scrypt\$15\$8\$1\$[\w-]{22}\$[\w-]{43}$/);
  assert.notEqual(a, b, 'a fresh salt each time');
  assert.equal(await verifyPassword('correct horse battery', a), true);
  assert.equal(await verifyPassword('correct horse batterY', a), false);
  for (const broken of ['', 'scrypt$15$8$1$abc', 'bcrypt$x', a.replace('$15$', '$40$'), a.slice(0, -4)]) assert.equal(await verifyPassword('correct horse battery', broken), false, broken);
  await assert.rejects(hashPassword('short'), PasswordPolicyError);
  const generated = generatePassword();
  assert.match(generated, /^[a-zA-Z2-9]{18}$/);
  assert.notEqual(generated, generatePassword());
});

test('the rate limiter blocks after the limit within the window, and a success clears the account', () => {
  const limiter = new LoginRateLimiter({ windowMs: 1000, perUsername: 2, perAddress: 3 });
  assert.equal(limiter.retryAfterMs('Bob', '10.0.0.1', 0), 0);
  limiter.recordFailure('Bob', '10.0.0.1', 0);
  limiter.recordFailure('bob', '10.0.0.2', 100);
  assert.equal(limiter.retryAfterMs('BOB', '10.0.0.3', 200), 800, 'names are case-insensitive; waits until the oldest failure leaves the window');
  assert.equal(limiter.retryAfterMs('bob', '10.0.0.3', 1001), 0, 'one failure left the window');
  limiter.recordSuccess('bob');
  assert.equal(limiter.retryAfterMs('bob', '10.0.0.3', 200), 0);
  for (const name of ['a', 'b', 'c']) limiter.recordFailure(name, '10.0.0.9', 300);
  assert.ok(limiter.retryAfterMs('d', '10.0.0.9', 400) > 0, 'one address guessing many names is throttled too');
});

test('login: cookie flags, the session stored only as a hash, audit entries; logout ends it', async () => {
  const response = await box.app.inject({ method: 'POST', url: '/api/login', payload: { username: USERNAMES.pathologist, password: PASSWORDS.pathologist } });
  assert.equal(response.statusCode, 200);
  const setCookie = String(response.headers['set-cookie']);
  assert.match(setCookie, /^pathbox_session=[\w-]{43}; Path=\/; HttpOnly; SameSite=Strict$/, 'no Secure over plain HTTP, no Max-Age');
  const token = response.cookies[0].value;
  const rows = box.store.db.prepare('SELECT token_hash FROM sessions').all() as { token_hash: string }[];
  assert.ok(rows.some((r) => r.token_hash === createHash('sha256').update(token).digest('hex')));
  assert.ok(!rows.some((r) => r.token_hash === token), 'the cookie itself is not stored');
  const cookie = `pathbox_session=${token}`;
  const me = await box.app.inject({ url: '/api/me', headers: { cookie } });
  assert.equal(me.json().user.role, 'pathologist');
  assert.equal(me.json().csrfToken, response.json().csrfToken);
  const logout = await box.app.inject({ method: 'POST', url: '/api/logout', headers: { cookie, 'x-csrf-token': me.json().csrfToken } });
  assert.equal(logout.statusCode, 200);
  assert.match(String(logout.headers['set-cookie']), /pathbox_session=;.*Expires=Thu, 01 Jan 1970/);
  assert.equal((await box.app.inject({ url: '/api/me', headers: { cookie } })).statusCode, 401, 'the old cookie is dead');
  const kinds = box.store.recentEvents({ limit: 20 }).filter((e) => e.actor === USERNAMES.pathologist).map((e) => e.kind);
  assert.ok(kinds.includes('auth.login') && kinds.includes('auth.logout'), kinds.join(','));
});

test('wrong passwords: the same 401 for unknown names, audited, then 429 with Retry-After', async () => {
  const attempt = (username: string, password: string) => box.app.inject({ method: 'POST', url: '/api/login', payload: { username, password }, remoteAddress: '10.1.1.1' });
  const unknown = await attempt('nobody', 'whatever-password');
  const wrong = await attempt(USERNAMES.technician, 'wrong-password');
  assert.equal(unknown.statusCode, 401);
  assert.equal(wrong.statusCode, 401);
  assert.deepEqual(unknown.json(), wrong.json(), 'no hint whether the name exists');
  await attempt(USERNAMES.technician, 'wrong-again');
  await attempt(USERNAMES.technician, 'and-again');
  const throttled = await attempt(USERNAMES.technician, PASSWORDS.technician);
  assert.equal(throttled.statusCode, 429, 'even the right password waits once the limit is reached');
  assert.ok(Number(throttled.headers['retry-after']) > 0);
  const failures = box.store.recentEvents({ kinds: ['auth.login-failed'], limit: 10 });
  assert.ok(failures.some((e) => e.subject === `user:${USERNAMES.technician}` && (e.details as { reason: string }).reason === 'wrong password'));
  assert.ok(failures.some((e) => e.subject === 'user:nobody' && (e.details as { reason: string }).reason === 'unknown user'));
  assert.equal(box.store.recentEvents({ kinds: ['auth.login-throttled'], limit: 5 }).length, 1);
});

test('expired sessions and disabled accounts are logged out', async () => {
  const admin = await login(box.app, 'admin');
  box.store.db.prepare("UPDATE sessions SET expires_at = '2000-01-01T00:00:00.000Z'").run();
  assert.equal((await box.app.inject({ url: '/api/me', headers: { cookie: admin.cookie } })).statusCode, 401);
  const again = await login(box.app, 'admin');
  box.store.db.prepare('UPDATE users SET disabled = 1 WHERE username = ?').run(USERNAMES.admin);
  assert.equal((await box.app.inject({ url: '/api/me', headers: { cookie: again.cookie } })).statusCode, 401);
  await assert.rejects(login(box.app, 'admin'), /401/);
  box.store.db.prepare('UPDATE users SET disabled = 0 WHERE username = ?').run(USERNAMES.admin);
});

test('admins add accounts over the API; weak passwords and duplicates are refused', async () => {
  const admin = await login(box.app, 'admin');
  const add = (payload: object) => box.app.inject({ method: 'POST', url: '/api/users', payload, headers: { cookie: admin.cookie, 'x-csrf-token': admin.csrf } });
  assert.equal((await add({ username: 'newdoc', role: 'pathologist', password: 'a-long-enough-password' })).statusCode, 201);
  assert.equal((await add({ username: 'NEWDOC', role: 'technician', password: 'a-long-enough-password' })).statusCode, 409, 'names are case-insensitive');
  assert.equal((await add({ username: 'weak', role: 'technician', password: 'short' })).statusCode, 400);
  assert.equal((await add({ username: 'bad name!', role: 'technician', password: 'a-long-enough-password' })).statusCode, 400);
  assert.equal((await add({ username: 'root', role: 'superuser', password: 'a-long-enough-password' })).statusCode, 400);
  const users = (await box.app.inject({ url: '/api/users', headers: { cookie: admin.cookie } })).json().users;
  assert.ok(users.some((u: { username: string }) => u.username === 'newdoc'));
  assert.ok(users.every((u: object) => !('passwordHash' in u)), 'hashes never leave the box');
});

test('every answer carries the security headers', async () => {
  for (const url of ['/index.html', '/api/me', '/api/slides/1/tiles/0/0_0.jpeg']) {
    const response = await box.app.inject({ url });
    assert.match(String(response.headers['content-security-policy']), /default-src 'self'; script-src 'self';.*frame-ancestors 'none'/, url);
    assert.equal(response.headers['x-content-type-options'], 'nosniff');
    assert.equal(response.headers['x-frame-options'], 'DENY');
    assert.equal(response.headers['strict-transport-security'], undefined, 'no HSTS over plain HTTP');
  }
});

test('the demo login: created when the box has no pathologist, a new password at every start', async () => {
  const store = freshStore();
  const first = await ensureDemoLogin(store);
  assert.equal(first?.username, DEMO_USERNAME);
  const user = new WebStore(store).findUser(DEMO_USERNAME)!;
  assert.equal(user.role, 'pathologist');
  assert.equal(await verifyPassword(first!.password, user.passwordHash), true);
  const second = await ensureDemoLogin(store);
  assert.notEqual(second!.password, first!.password);
  assert.equal(await verifyPassword(first!.password, new WebStore(store).findUser(DEMO_USERNAME)!.passwordHash), false, 'the old demo password stops working');
  const real = freshStore();
  await addUser(real, 'drsmith', 'pathologist', 'a-long-enough-password', 'test');
  assert.equal(await ensureDemoLogin(real), null, 'a box with real pathologists gets no demo account');
  assert.equal(new WebStore(real).findUser(DEMO_USERNAME), undefined);
});
