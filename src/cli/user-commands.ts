import { mkdirSync } from 'node:fs';
import { dataPaths } from '../daemon/daemon.ts';
import { ROLES, Store, WebStore, type Role } from '../store/index.ts';
import { addUser, hashPassword, MIN_PASSWORD_LENGTH } from '../web/index.ts';
import { output, parse, UsageError } from './args.ts';
import type { Command } from './command.ts';
import { dataDirOf } from './daemon-commands.ts';

const flags = { 'data-dir': { type: 'string' }, config: { type: 'string' }, role: { type: 'string' }, json: { type: 'boolean' } } as const;
const USERNAME = /^[A-Za-z0-9._-]{1,64}$/;

/** The password is the first line of stdin (so it never appears in the process list or shell history). */
async function passwordFromStdin(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write(`password (at least ${MIN_PASSWORD_LENGTH} characters), then Enter and Ctrl-D: `);
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const password = Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0];
  if (!password) throw new UsageError('no password on stdin (pipe it in: printf "%s\\n" "$PASSWORD" | pathbox user add ...)');
  return password;
}

/** Accounts may be made before the daemon first runs (provisioning): the database is created if needed. */
function openStoreFor(dataDir: string): Store {
  mkdirSync(dataDir, { recursive: true });
  return Store.open(dataPaths(dataDir).database);
}

const actor = () => process.env.SUDO_USER ?? process.env.USER ?? 'cli';

function username(positionals: string[]): string {
  const name = positionals[0];
  if (!name || !USERNAME.test(name)) throw new UsageError('NAME must be 1-64 letters, digits, dots, dashes or underscores');
  return name;
}

const userAdd: Command = {
  name: 'user add',
  usage: 'pathbox user add NAME --role admin|pathologist|technician [--data-dir DIR] (password on stdin)',
  summary: 'create a dashboard account',
  async run(argv) {
    const args = parse(argv, flags);
    const name = username(args.positionals);
    const role = args.values.role as string | undefined;
    if (!role || !(ROLES as readonly string[]).includes(role)) throw new UsageError(`--role must be one of ${ROLES.join(', ')}`);
    const password = await passwordFromStdin();
    const store = openStoreFor(dataDirOf(args));
    try {
      const user = await addUser(store, name, role as Role, password, actor());
      output(args.values.json === true, { user }, () => `user ${user.username} (${user.role}) added`);
    } finally {
      store.close();
    }
  },
};

const userPasswd: Command = {
  name: 'user passwd',
  usage: 'pathbox user passwd NAME [--data-dir DIR] (new password on stdin)',
  summary: 'set a dashboard account\'s password (ends its sessions)',
  async run(argv) {
    const args = parse(argv, flags);
    const name = username(args.positionals);
    const password = await passwordFromStdin();
    const store = openStoreFor(dataDirOf(args));
    try {
      const web = new WebStore(store);
      const user = web.findUser(name);
      if (!user) throw new Error(`no user "${name}" (see pathbox user list)`);
      web.setPassword(user.id, await hashPassword(password), actor());
      output(args.values.json === true, { user: { username: user.username } }, () => `password of ${user.username} changed; their sessions ended`);
    } finally {
      store.close();
    }
  },
};

const userList: Command = {
  name: 'user list',
  usage: 'pathbox user list [--data-dir DIR] [--json]',
  summary: 'dashboard accounts and their roles',
  async run(argv) {
    const args = parse(argv, flags);
    const store = openStoreFor(dataDirOf(args));
    try {
      const users = new WebStore(store).listUsers();
      output(args.values.json === true, { users }, () => users.map((u) => `${u.username.padEnd(20)} ${u.role}${u.disabled ? ' (disabled)' : ''}`).join('\n') || 'no users');
    } finally {
      store.close();
    }
  },
};

export const userCommands: Command[] = [userAdd, userPasswd, userList];
