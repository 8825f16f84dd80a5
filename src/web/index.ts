/** The dashboard's public surface: the server the daemon starts, and account helpers for the CLI. */
export { buildWebApp, startWebServer } from './server.ts';
export type { RouteInfo, WebOptions, WebServer } from './server.ts';
export type { Access } from './context.ts';
export { addUser, ensureDemoLogin, DEMO_USERNAME } from './auth/accounts.ts';
export { hashPassword, PasswordPolicyError, MIN_PASSWORD_LENGTH } from './auth/passwords.ts';
