/**
 * The demo's cloud: node tools/cloud-responder/main.ts --local-broker DIR [--device-id ID] [--out DIR]
 * starts a local Mosquitto (TLS, a CA made on the spot, a certificate for the box) and prints how to
 * point the box at it; or --url URL --ca FILE --cert FILE --key FILE joins an existing broker as the
 * cloud. Either way it then acknowledges results and answers second-opinion requests until Ctrl-C.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import YAML from 'yaml';
import { CLOUD_IDENTITY, Mosquitto, type TlsFiles } from './mosquitto.ts';
import { CloudResponder } from './responder.ts';

const USAGE = 'usage: cloud-responder --local-broker DIR [--device-id ID] [--out DIR]\n       cloud-responder --url URL --ca FILE --cert FILE --key FILE [--out DIR]';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'local-broker': { type: 'string' }, 'device-id': { type: 'string' }, url: { type: 'string' },
      ca: { type: 'string' }, cert: { type: 'string' }, key: { type: 'string' }, out: { type: 'string' },
    },
  });
  let url: string;
  let tls: TlsFiles;
  let broker: Mosquitto | null = null;
  if (values['local-broker']) {
    const dir = path.resolve(values['local-broker']);
    broker = await Mosquitto.start(dir);
    const deviceId = values['device-id'] ?? 'demo-box';
    const box = await broker.pki.client(deviceId);
    const config = path.join(dir, 'pathbox.yaml');
    await writeFile(config, YAML.stringify({
      dataDir: path.join(dir, 'box'), inboxes: [path.join(dir, 'box', 'inbox')], ingest: { settleSeconds: 1, pollSeconds: 1 },
      http: { host: '127.0.0.1', port: 8080 }, mqtt: { url: broker.url, deviceId, ...box, telemetrySeconds: 10 },
    }));
    process.stderr.write(`local broker ${broker.url} (log ${broker.logFile})\nrun the box against it:\n  bin/pathbox daemon --config ${config}\n` +
      `drop slides into ${path.join(dir, 'box', 'inbox')}; then: bin/pathbox second-opinion request 1 --config ${config}\n`);
    url = broker.url;
    tls = await broker.pki.client(CLOUD_IDENTITY);
  } else if (values.url && values.ca && values.cert && values.key) {
    url = values.url;
    tls = { ca: values.ca, cert: values.cert, key: values.key };
  } else {
    process.stderr.write(`${USAGE}\n`);
    process.exit(2);
  }

  const responder = new CloudResponder({ url, tls, outDir: values.out ? path.resolve(values.out) : null });
  await responder.start();
  process.stderr.write(`cloud responder subscribed to pathbox/v1/+/#${values.out ? `; packages go to ${values.out}` : ''}\n`);
  let reported = { results: 0, packages: 0 };
  const timer = setInterval(() => {
    const answered = [...responder.packages.values()].filter((p) => p.answered).length;
    if (responder.results.length !== reported.results || answered !== reported.packages) {
      process.stderr.write(`results ${responder.results.length} (duplicates dropped: ${responder.duplicates}), second opinions answered ${answered}\n`);
      reported = { results: responder.results.length, packages: answered };
    }
  }, 1000);
  const stop = async () => {
    clearInterval(timer);
    await responder.stop();
    await broker?.stop();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}

await main();
