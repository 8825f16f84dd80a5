import { WebStore, type Role, type Store } from '../../store/index.ts';
import { generatePassword, hashPassword } from './passwords.ts';

export const DEMO_USERNAME = 'demo';

/** Creates an account (CLI `pathbox user add`, provisioning); the password is hashed here and never stored. */
export async function addUser(store: Store, username: string, role: Role, password: string, actor: string): Promise<{ id: number; username: string; role: Role }> {
  const user = new WebStore(store).addUser(username, role, await hashPassword(password), actor);
  return { id: user.id, username: user.username, role: user.role };
}

/**
 * The demo's login: a pathologist named "demo" with a fresh random password at every demo start (it is
 * printed once, to the person who started the demo). Returns null when the data folder already has
 * other pathologists: a real installation run with --demo gets no extra account.
 */
export async function ensureDemoLogin(store: Store): Promise<{ username: string; password: string } | null> {
  const web = new WebStore(store);
  const existing = web.findUser(DEMO_USERNAME);
  if (!existing && web.countUsers('pathologist') > 0) return null;
  const password = generatePassword();
  const hash = await hashPassword(password);
  if (existing) web.setPassword(existing.id, hash, 'demo');
  else web.addUser(DEMO_USERNAME, 'pathologist', hash, 'demo');
  return { username: DEMO_USERNAME, password };
}
