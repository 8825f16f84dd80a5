/** `pathbox user add | passwd | list`: accounts made from the command line, passwords from stdin. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { Store, WebStore } from '../../src/store/index.ts';
import { verifyPassword } from '../../src/web/auth/passwords.ts';
import { projectRoot } from '../helpers/fixtures.ts';

const dataDir = mkdtempSync(path.join(tmpdir(), 'pathbox-user-cli-'));
const pathbox = (args: string[], input = '') =>
  spawnSync(process.execPath, [path.join(projectRoot, 'src', 'cli', 'main.ts'), ...args, '--data-dir', dataDir], { input, encoding: 'utf8' });

test('user add creates the database if needed, hashes the password from stdin, and refuses bad input', async () => {
  const added = pathbox(['user', 'add', 'drsmith', '--role', 'pathologist'], 'a-long-password-1\n');
  assert.equal(added.status, 0, added.stderr);
  assert.match(added.stdout, /user drsmith \(pathologist\) added/);

  const duplicate = pathbox(['user', 'add', 'DrSmith', '--role', 'admin'], 'another-password-2\n');
  assert.equal(duplicate.status, 1);
  assert.match(duplicate.stderr, /user "DrSmith" already exists/);
  const weak = pathbox(['user', 'add', 'tech1', '--role', 'technician'], 'short\n');
  assert.equal(weak.status, 1);
  assert.match(weak.stderr, /at least 10 characters/);
  const badRole = pathbox(['user', 'add', 'root', '--role', 'superuser'], 'a-long-password-1\n');
  assert.equal(badRole.status, 2);
  assert.match(badRole.stderr, /--role must be one of admin, pathologist, technician/);
  const noPassword = pathbox(['user', 'add', 'tech2', '--role', 'technician']);
  assert.equal(noPassword.status, 2);
  assert.match(noPassword.stderr, /no password on stdin/);

  const changed = pathbox(['user', 'passwd', 'drsmith'], 'the-new-password-3\n');
  assert.equal(changed.status, 0, changed.stderr);
  const listed = pathbox(['user', 'list', '--json']);
  assert.deepEqual(JSON.parse(listed.stdout).users.map((u: { username: string; role: string }) => [u.username, u.role]), [['drsmith', 'pathologist']]);

  const store = Store.open(path.join(dataDir, 'pathbox.db'));
  try {
    const user = new WebStore(store).findUser('drsmith')!;
    assert.equal(await verifyPassword('the-new-password-3', user.passwordHash), true);
    assert.equal(await verifyPassword('a-long-password-1', user.passwordHash), false);
    assert.ok(!user.passwordHash.includes('the-new-password-3'));
    const audit = store.recentEvents({ limit: 10 }).map((e) => e.kind);
    assert.ok(audit.includes('user.added') && audit.includes('user.password-set'), audit.join(','));
  } finally {
    store.close();
  }
});
