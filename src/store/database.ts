import Database from 'better-sqlite3';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export type Db = Database.Database;

const MIGRATIONS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations');

export class StoreError extends Error {
  readonly code: 'INTEGRITY_FAILED' | 'NEWER_SCHEMA' | 'MIGRATION_FAILED';
  constructor(code: StoreError['code'], message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreError';
    this.code = code;
  }
}

interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** Numbered SQL files (001_initial.sql, 002_...), applied in order, each in its own transaction. */
export function loadMigrations(dir = MIGRATIONS_DIR): Migration[] {
  return readdirSync(dir)
    .filter((f) => /^\d{3}_[\w-]+\.sql$/.test(f))
    .sort()
    .map((f) => ({ version: Number(f.slice(0, 3)), name: f, sql: readFileSync(path.join(dir, f), 'utf8') }));
}

/**
 * Opens the box's database: WAL, foreign keys, a busy timeout for the CLI reading while the daemon
 * writes, an integrity check, then pending migrations. A database that fails its check is left as it
 * is (never "repaired" by us) and the caller refuses to start.
 */
export function openDatabase(file: string, options: { readonly?: boolean; migrate?: boolean } = {}): Db {
  const damaged = (detail: string, cause?: unknown) => new StoreError('INTEGRITY_FAILED',
    `database ${file} failed its integrity check (${detail}); it was left untouched. ` +
    'Restore a backup (pathbox db backup makes them) or move the file aside to start with an empty database.', { cause });
  let db: Db;
  try {
    db = new Database(file, { readonly: options.readonly ?? false, fileMustExist: options.readonly ?? false });
  } catch (e) {
    throw isCorruption(e) ? damaged((e as Error).message, e) : e;
  }
  try {
    db.pragma('busy_timeout = 5000');
    if (!options.readonly) {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
    }
    db.pragma('foreign_keys = ON');
    const check = db.pragma('quick_check', { simple: true });
    if (check !== 'ok') throw damaged(String(check));
    if (options.migrate ?? !options.readonly) migrate(db);
    reuseStatements(db);
    return db;
  } catch (e) {
    db.close();
    throw isCorruption(e) ? damaged((e as Error).message, e) : e;
  }
}

/** Statements kept per connection; a few texts are built per call (IN lists), so the cache is bounded. */
const MAX_CACHED_STATEMENTS = 256;

/**
 * Makes db.prepare compile each SQL text once and hand back the same statement afterwards (the store
 * calls it inline, at the query): compiling costs more than running the small lookups every dashboard
 * request makes. Safe because the store runs statements to completion (no iterate()) and never changes
 * a statement's mode (pluck, raw, expand).
 */
function reuseStatements(db: Db): void {
  const compile = db.prepare.bind(db);
  const statements = new Map<string, Database.Statement>();
  db.prepare = ((source: string) => {
    let statement = statements.get(source);
    if (statement) {
      statements.delete(source);
    } else {
      statement = compile(source);
      if (statements.size >= MAX_CACHED_STATEMENTS) statements.delete(statements.keys().next().value!);
    }
    statements.set(source, statement);
    return statement;
  }) as Db['prepare'];
}

/** SQLite's own verdicts on a damaged file (a page that is not a page, a header that is not SQLite's). */
function isCorruption(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  return typeof code === 'string' && (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB');
}

export function migrate(db: Db, migrations = loadMigrations()): number {
  const current = db.pragma('user_version', { simple: true }) as number;
  const latest = migrations.at(-1)?.version ?? 0;
  if (current > latest) {
    throw new StoreError('NEWER_SCHEMA', `database schema version ${current} is newer than this pathbox (${latest}); run the newer release or restore a backup`);
  }
  for (const migration of migrations.filter((m) => m.version > current)) {
    try {
      db.transaction(() => {
        db.exec(migration.sql);
        db.pragma(`user_version = ${migration.version}`);
      })();
    } catch (e) {
      throw new StoreError('MIGRATION_FAILED', `migration ${migration.name} failed: ${(e as Error).message}`, { cause: e });
    }
  }
  return db.pragma('user_version', { simple: true }) as number;
}

/** An online, consistent copy of the live database (SQLite's backup API), safe while the daemon runs. */
export async function backupDatabase(db: Db, destination: string): Promise<void> {
  await db.backup(destination);
}

/** Full integrity check (slower than the start-up quick_check), for tests and `pathbox db check`. */
export function integrityCheck(db: Db): string {
  return String(db.pragma('integrity_check', { simple: true }));
}
