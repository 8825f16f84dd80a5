import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generate } from 'mqtt-packet';
import {
  decodeChunk, decodePackage, encodeChunk, encodePackage, publishPacketBytes, publishProperties, sha256, splitChunks, WireError,
} from '../../src/sync/index.ts';

test('the counted size of a publish is the size mqtt-packet encodes (MQTT 5, QoS 1 and 0)', () => {
  const cases = [
    { topic: 'pathbox/v1/box-1/results', payload: Buffer.from(JSON.stringify({ type: 'result', n: 1 })), key: 'result:abc:1' },
    { topic: 'pathbox/v1/box-1/second-opinion/request', payload: encodeChunk({ idempotencyKey: 'k', requestId: 'r', index: 0, chunks: 1, offset: 0 }, Buffer.alloc(70_000, 7)), key: 'k' },
    { topic: 't', payload: Buffer.alloc(0), key: 'ключ' },
    { topic: 'pathbox/v1/box-1/status', payload: Buffer.from('{}'), key: null },
  ];
  for (const { topic, payload, key } of cases) {
    const properties = key === null ? { contentType: 'application/json' } : publishProperties(key, payload);
    for (const qos of [0, 1] as const) {
      const encoded = generate({ cmd: 'publish', topic, payload, qos, dup: false, retain: false, messageId: qos ? 1 : undefined, properties }, { protocolVersion: 5 });
      assert.equal(publishPacketBytes(topic, payload, properties, qos), encoded.length, `${topic} qos ${qos}`);
    }
  }
});

test('chunks carry their idempotency key in a JSON line before raw bytes, and damage is detected', () => {
  const data = Buffer.from([0, 10, 13, 255, 10, 1]);
  const payload = encodeChunk({ idempotencyKey: 'second-opinion:r1:3', requestId: 'r1', index: 3, chunks: 5, offset: 12 }, data);
  assert.equal(payload.length - data.length, payload.indexOf(0x0a) + 1, 'raw bytes follow one header line (no base64)');
  const { header, data: decoded } = decodeChunk(payload);
  assert.equal(header.idempotencyKey, 'second-opinion:r1:3');
  assert.equal(header.index, 3);
  assert.deepEqual(decoded, data);
  assert.equal(publishProperties('k', payload).contentType, 'application/vnd.pathbox.package-chunk');
  assert.equal(publishProperties('k', Buffer.from('{"type":"result"}')).contentType, 'application/json');

  const damaged = Buffer.from(payload);
  damaged[damaged.length - 1] ^= 0xff;
  assert.throws(() => decodeChunk(damaged), WireError);
  assert.throws(() => decodeChunk(Buffer.from('{"type":"result"}')), WireError);
});

test('a package splits into chunks and reassembles into the same files; a wrong byte is refused', () => {
  const files = [
    { name: 'region-01.jpg', mediaType: 'image/jpeg', data: Buffer.alloc(5000, 1), region: { rank: 1, x: 0, y: 0, width: 448, height: 448, score: 0.9, mpp: 0.5 } },
    { name: 'thumbnail.jpg', mediaType: 'image/jpeg', data: Buffer.alloc(3001, 2) },
    { name: 'result.json', mediaType: 'application/json', data: Buffer.from('{}') },
  ];
  const { manifest, blob } = encodePackage(files);
  assert.equal(manifest.bytes, 8003);
  assert.equal(manifest.sha256, sha256(blob));
  const chunks = splitChunks(blob, 1024);
  assert.equal(chunks.length, 8);
  assert.ok(chunks.slice(0, -1).every((c) => c.length === 1024));
  const back = decodePackage(manifest, Buffer.concat(chunks));
  assert.deepEqual(back.map((f) => [f.name, f.data.length, f.region?.rank]), [['region-01.jpg', 5000, 1], ['thumbnail.jpg', 3001, undefined], ['result.json', 2, undefined]]);
  assert.deepEqual(back[1].data, files[1].data);
  const wrong = Buffer.concat(chunks);
  wrong[4000] ^= 1;
  assert.throws(() => decodePackage(manifest, wrong), /SHA-256/);
});
