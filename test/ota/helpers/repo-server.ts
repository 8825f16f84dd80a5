/**
 * A static file server on loopback for OTA tests that behaves like a real one (Range, If-Range, ETag, 416)
 * until told to misbehave for requests whose path ends with a given suffix: drip bytes, ignore Range,
 * send a broken Content-Range, drop the connection part-way, garble, overrun, answer 416 or an error, change
 * the ETag, or be down altogether.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import path from 'node:path';
import { after } from 'node:test';

export type Misbehaviour =
  | { kind: 'drip'; bytes: number; everyMs: number }
  | { kind: 'ignore-range' }
  | { kind: 'content-range'; value: (start: number, end: number, total: number) => string | null }
  | { kind: 'content-length'; value: (length: number) => number }
  | { kind: 'disconnect-at'; fraction: number }
  | { kind: 'status'; code: number }
  | { kind: 'etag'; value: () => string }
  | { kind: 'garble' }
  | { kind: 'extra-bytes'; count: number }
  | { kind: 'replace'; body: Buffer }
  | { kind: 'down' };

interface Rule {
  suffix: string;
  behaviour: Misbehaviour;
  /** How many more matching requests it applies to (Infinity: until cleared). */
  remaining: number;
}

export interface RequestRecord {
  path: string;
  range: string | null;
  status: number;
}

export class RepoServer {
  readonly root: string;
  readonly requests: RequestRecord[] = [];
  private readonly server: http.Server;
  private readonly sockets = new Set<Socket>();
  private rules: Rule[] = [];
  port = 0;

  private constructor(root: string) {
    this.root = root;
    this.server = http.createServer((req, res) => void this.handle(req, res));
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  static async start(root: string): Promise<RepoServer> {
    const server = new RepoServer(root);
    await new Promise<void>((resolve) => server.server.listen(0, '127.0.0.1', resolve));
    server.port = (server.server.address() as AddressInfo).port;
    after(() => server.close());
    return server;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/`;
  }

  /** Misbehave for the next `times` requests whose path ends with `suffix` (every one when omitted). */
  misbehave(suffix: string, behaviour: Misbehaviour, times = Infinity): void {
    this.rules.push({ suffix, behaviour, remaining: times });
  }

  behave(): void {
    this.rules = [];
  }

  requestsFor(suffix: string): RequestRecord[] {
    return this.requests.filter((r) => r.path.endsWith(suffix));
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private ruleFor(urlPath: string): Misbehaviour | null {
    const rule = this.rules.find((r) => r.remaining > 0 && urlPath.endsWith(r.suffix));
    if (!rule) return null;
    rule.remaining--;
    return rule.behaviour;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const urlPath = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const range = typeof req.headers.range === 'string' ? req.headers.range : null;
    const rule = this.ruleFor(urlPath);
    const record = (status: number) => this.requests.push({ path: urlPath, range, status });
    if (rule?.kind === 'down') {
      record(0);
      req.socket.destroy();
      return;
    }
    if (rule?.kind === 'status') {
      record(rule.code);
      res.writeHead(rule.code).end();
      return;
    }
    let body: Buffer;
    try {
      body = rule?.kind === 'replace' ? rule.body : await readFile(path.join(this.root, ...urlPath.split('/').filter(Boolean)));
    } catch {
      record(404);
      res.writeHead(404).end();
      return;
    }
    const etag = rule?.kind === 'etag' ? rule.value() : `"${createHash('sha256').update(body).digest('hex').slice(0, 16)}"`;
    const ifRange = req.headers['if-range'];
    let start = 0;
    let status = 200;
    const wanted = range && rule?.kind !== 'ignore-range' ? /^bytes=(\d+)-$/.exec(range) : null;
    // A server whose ETag changes also ignores If-Range here (a broken cache): the client must notice itself.
    if (wanted && (!ifRange || ifRange === etag || rule?.kind === 'etag')) {
      start = Number(wanted[1]);
      if (start >= body.length) {
        record(416);
        res.writeHead(416, { 'content-range': `bytes */${body.length}` }).end();
        return;
      }
      status = 206;
    }
    let payload = body.subarray(start);
    if (rule?.kind === 'garble') {
      payload = Buffer.from(payload);
      payload[Math.floor(payload.length / 2)] ^= 0xff;
    }
    if (rule?.kind === 'extra-bytes') payload = Buffer.concat([payload, Buffer.alloc(rule.count, 0x41)]);
    const headers: Record<string, string> = { etag, 'accept-ranges': 'bytes', 'content-length': String(payload.length) };
    if (status === 206) {
      const value = rule?.kind === 'content-range' ? rule.value(start, body.length - 1, body.length) : `bytes ${start}-${body.length - 1}/${body.length}`;
      if (value !== null) headers['content-range'] = value;
    }
    if (rule?.kind === 'content-length') headers['content-length'] = String(rule.value(payload.length));
    if (rule?.kind === 'disconnect-at') {
      delete headers['content-length'];
      payload = payload.subarray(0, Math.floor(body.length * rule.fraction) - start);
    }
    // Drips and overruns stream without announcing a length, so only a client-side cap can stop them.
    if (rule?.kind === 'drip' || rule?.kind === 'extra-bytes') delete headers['content-length'];
    record(status);
    res.writeHead(status, headers);
    if (rule?.kind === 'disconnect-at') {
      // Flush what was promised, then close the connection without finishing the response.
      res.write(payload, () => setTimeout(() => req.socket.end(), 30));
      return;
    }
    if (rule?.kind === 'drip') {
      for (let i = 0; i < payload.length && !res.destroyed; i += rule.bytes) {
        res.write(payload.subarray(i, i + rule.bytes));
        await new Promise((resolve) => setTimeout(resolve, rule.everyMs));
      }
      res.end();
      return;
    }
    if (rule?.kind === 'content-length') {
      res.write(payload, () => req.socket.destroy());
      return;
    }
    res.end(payload);
  }
}
