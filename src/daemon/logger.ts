import pino, { type Logger } from 'pino';

export type { Logger };

/** The one logger: structured JSON lines on stdout (journald keeps them), passed down to every stage. */
export function createLogger(level: string, name = 'pathbox'): Logger {
  return pino({ name, level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime });
}
