import type { FastifyInstance } from 'fastify';
import { ALL_ROLES, type WebContext } from '../context.ts';
import { LiveFeed, type LiveEvent } from './live-feed.ts';

/** Comment lines keep proxies and browsers from closing an idle stream. */
const KEEPALIVE_MS = 15_000;

/** `GET /api/events`: Server-Sent Events with slide changes and job progress for the worklist. */
export async function eventRoutes(app: FastifyInstance, ctx: WebContext): Promise<void> {
  const feed = new LiveFeed(ctx.web, ctx.eventsPollMs, (e) => ctx.logger.error({ err: e }, 'live feed poll failed'));
  const streams = new Set<() => void>();
  // Open streams never end by themselves: close them first, or the server would wait for them forever.
  app.addHook('preClose', async () => {
    for (const end of [...streams]) end();
    feed.stop();
  });

  app.get('/events', { config: { access: ALL_ROLES } }, (request, reply) => {
    reply.hijack();
    const raw = reply.raw;
    // A hijacked reply skips fastify's header handling: copy the security headers over ourselves.
    for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) raw.setHeader(name, value);
    raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    raw.write('retry: 2000\n\n');
    const send = (event: LiveEvent) => raw.write(`event: ${event.type}\ndata: ${JSON.stringify(event.data)}\n\n`);
    const unsubscribe = feed.subscribe(send);
    const keepalive = setInterval(() => raw.write(': keepalive\n\n'), KEEPALIVE_MS);
    const end = () => {
      if (!streams.delete(end)) return;
      clearInterval(keepalive);
      unsubscribe();
      raw.end();
    };
    streams.add(end);
    request.raw.on('close', end);
  });
}
