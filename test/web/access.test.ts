/**
 * The authorisation matrix over every registered route: no session → 401, a role the route does not
 * allow → 403, a state-changing request without (or with a wrong) CSRF token → 403; allowed roles get
 * through. The routes come from the application itself, so a new route cannot escape this test.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ROLES, type Role } from '../../src/store/index.ts';
import type { RouteInfo } from '../../src/web/index.ts';
import { projectRoot } from '../helpers/fixtures.ts';
import { login, testBox, type LoggedIn, type TestBox } from './helpers.ts';

let box: TestBox;
const sessions = {} as Record<Role, LoggedIn>;

before(async () => {
  box = await testBox();
  for (const role of ROLES) sessions[role] = await login(box.app, role);
});
after(() => box.close());

const apiRoutes = () => box.routes.filter((r) => r.method !== 'HEAD' && r.url.startsWith('/api/'));

function concrete(route: RouteInfo): string {
  return route.url
    .replace(':id', String(box.slideId))
    .replace(':level', '12')
    .replace(':tile', '0_0.jpeg')
    .replace(':roi', '0.jpeg');
}

function inject(route: RouteInfo, headers: Record<string, string>) {
  const payload = route.method === 'POST' ? {} : undefined;
  return box.app.inject({ method: route.method as 'GET', url: concrete(route), headers, payload });
}

test('only the login and the static pages are public; every API route names its roles', () => {
  const isPublic = box.routes.filter((r) => r.access === 'public' && r.method !== 'HEAD').map((r) => `${r.method} ${r.url}`).sort();
  assert.deepEqual(isPublic, ['GET /', 'GET /*', 'POST /api/login']);
  assert.ok(apiRoutes().length >= 20, `only ${apiRoutes().length} API routes found`);
});

test('every route is documented in docs/api.md', () => {
  const documented = new Set([...readFileSync(path.join(projectRoot, 'docs', 'api.md'), 'utf8').matchAll(/^### `(GET|POST|PUT|PATCH|DELETE) ([^`]+)`$/gm)].map((m) => `${m[1]} ${m[2]}`));
  const missing = box.routes.filter((r) => r.method !== 'HEAD').map((r) => `${r.method} ${r.url}`).filter((r) => !documented.has(r));
  assert.deepEqual(missing, [], 'routes missing from docs/api.md');
});

test('no session: every protected route answers 401', async () => {
  for (const route of apiRoutes().filter((r) => r.access !== 'public')) {
    const response = await inject(route, {});
    assert.equal(response.statusCode, 401, `${route.method} ${route.url}: ${response.body}`);
    assert.equal(response.json().error, 'UNAUTHENTICATED');
  }
});

test('a forged or stale session cookie is no session', async () => {
  const route = apiRoutes().find((r) => r.url === '/api/slides')!;
  for (const cookie of ['pathbox_session=forged', `pathbox_session=${'a'.repeat(500)}`, sessions.pathologist.cookie.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'))]) {
    assert.equal((await inject(route, { cookie })).statusCode, 401, cookie.slice(0, 40));
  }
});

test('wrong role: 403 for every role a route does not allow', async () => {
  let checked = 0;
  for (const route of apiRoutes()) {
    if (route.access === 'public') continue;
    for (const role of ROLES.filter((r) => !(route.access as readonly Role[]).includes(r))) {
      const response = await inject(route, { cookie: sessions[role].cookie, 'x-csrf-token': sessions[role].csrf });
      assert.equal(response.statusCode, 403, `${role} → ${route.method} ${route.url}: ${response.body}`);
      assert.equal(response.json().error, 'FORBIDDEN');
      checked++;
    }
  }
  // Clinical routes exclude two roles each, admin and technician routes the others: the matrix is not empty.
  assert.ok(checked >= 20, `only ${checked} role/route pairs refused`);
});

test('state-changing routes: a missing or wrong CSRF token is 403, even for an allowed role', async () => {
  const changing = apiRoutes().filter((r) => r.method !== 'GET' && r.access !== 'public');
  assert.ok(changing.length >= 5);
  for (const route of changing) {
    const role = (route.access as readonly Role[])[0];
    const attempts: Record<string, string>[] = [{ cookie: sessions[role].cookie }, { cookie: sessions[role].cookie, 'x-csrf-token': sessions[ROLES.find((r) => r !== role)!].csrf }];
    for (const headers of attempts) {
      const response = await inject(route, headers);
      assert.equal(response.statusCode, 403, `${route.method} ${route.url} ${JSON.stringify(Object.keys(headers))}: ${response.body}`);
      assert.equal(response.json().error, 'CSRF');
    }
  }
});

test('a POST from another origin is refused before anything else, login included', async () => {
  const response = await box.app.inject({ method: 'POST', url: '/api/login', headers: { origin: 'https://evil.example' }, payload: { username: 'paula', password: 'x' } });
  assert.equal(response.statusCode, 403);
  assert.equal(response.json().error, 'CROSS_ORIGIN');
});

test('allowed roles get through the gate on every read route', async () => {
  for (const route of apiRoutes().filter((r) => r.method === 'GET' && r.access !== 'public' && r.url !== '/api/events')) {
    for (const role of route.access as readonly Role[]) {
      const response = await inject(route, { cookie: sessions[role].cookie });
      assert.ok(![401, 403].includes(response.statusCode), `${role} → ${route.method} ${route.url}: ${response.statusCode} ${response.body.slice(0, 200)}`);
      assert.ok(response.statusCode < 500, `${role} → ${route.url}: ${response.statusCode}`);
    }
  }
});
