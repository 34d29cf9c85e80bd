/**
 * The export's AWS adapters on the wire: S3ExportObjects against s3rver (single PUT and multipart,
 * presigned GET of exactly one key), LambdaJobLauncher against a scripted Lambda Invoke endpoint
 * (the request Lambda's API receives: InvocationType Event, the job reference as payload).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { crc32 } from 'node:zlib';
import { makeS3Client } from '../../lib/aws/clients.ts';
import { LambdaJobLauncher, makeLambdaClient } from '../../lib/aws/lambda-launcher.ts';
import { S3ExportObjects } from '../../lib/aws/s3-exports.ts';
import { type LocalAws, startLocalAws } from '../support/local-aws.ts';

describe('S3ExportObjects (s3rver)', () => {
  let aws: LocalAws;
  before(async () => {
    aws = await startLocalAws();
  });
  after(async () => {
    await aws.close();
  });

  for (const [name, size] of [
    ['a single PUT', 1000],
    ['a multipart upload', 11 * 1024 * 1024 + 17],
  ] as const) {
    it(`stores a trace with ${name} and hands it out through a presigned URL`, async () => {
      const objects = new S3ExportObjects({
        s3: aws.s3,
        bucket: aws.bucket,
        multipartThresholdBytes: 5 * 1024 * 1024,
        partBytes: 5 * 1024 * 1024,
      });
      const bytes = randomBytes(size);
      const key = `exports/prod/${name.replace(/ /g, '-')}.sktrace`;
      await objects.put(key, bytes);
      const url = await objects.presign(key, 300);
      const parsed = new URL(url);
      assert.equal(parsed.pathname, `/${aws.bucket}/${key}`);
      assert.equal(parsed.searchParams.get('X-Amz-Expires'), '300');
      const res = await fetch(url);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-disposition'), `attachment; filename="${key.split('/').at(-1)}"`);
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), bytes);
    });
  }

  it('assembles parts uploaded out of order by number (the streamed trace uploads part 1 last), and aborts', async () => {
    const objects = new S3ExportObjects({ s3: aws.s3, bucket: aws.bucket });
    const parts = [randomBytes(5 * 1024 * 1024 + 3), randomBytes(5 * 1024 * 1024), randomBytes(1234)];
    const key = 'exports/prod/out-of-order.sktrace';
    const upload = await objects.startUpload(key);
    await Promise.all([upload.uploadPart(3, parts[2]!), upload.uploadPart(2, parts[1]!)]);
    await upload.uploadPart(1, parts[0]!);
    await upload.complete();
    const res = await fetch(await objects.presign(key, 60));
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), Buffer.concat(parts));

    const dropped = await objects.startUpload('exports/prod/dropped.sktrace');
    await dropped.uploadPart(2, parts[2]!);
    await dropped.abort();
    const gone = await fetch(await objects.presign('exports/prod/dropped.sktrace', 60));
    assert.equal(gone.status, 404);
  });

  it('sends views of larger buffers (byteOffset > 0) as exactly their bytes, as TraceStreamWriter hands them out', async () => {
    const objects = new S3ExportObjects({ s3: aws.s3, bucket: aws.bucket });
    // Marked bytes around each view: a view sent from its buffer's start, or past its end, shows.
    const view = (length: number, offset: number) => {
      const buffer = Buffer.alloc(offset + length + 7, 0xee);
      const bytes = randomBytes(length);
      bytes.copy(buffer, offset);
      return { view: new Uint8Array(buffer.buffer, buffer.byteOffset + offset, length), bytes };
    };
    const first = view(5 * 1024 * 1024 + 9, 41);
    const last = view(4321, 13);
    const key = 'exports/prod/views.sktrace';
    const upload = await objects.startUpload(key);
    await Promise.all([upload.uploadPart(1, first.view), upload.uploadPart(2, last.view)]);
    await upload.complete();
    const res = await fetch(await objects.presign(key, 60));
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), Buffer.concat([first.bytes, last.bytes]));

    const small = view(777, 29);
    await objects.put('exports/prod/view-put.sktrace', small.view);
    const got = await fetch(await objects.presign('exports/prod/view-put.sktrace', 60));
    assert.deepEqual(Buffer.from(await got.arrayBuffer()), small.bytes);
  });

  it('signs trace bodies with UNSIGNED-PAYLOAD, sends their CRC32 and no Expect: 100-continue, on the wire (a recording proxy before s3rver)', async () => {
    // Every request passes through to s3rver unchanged; the proxy keeps what arrived.
    const seen: { method: string; url: string; headers: IncomingMessage['headers']; body: Buffer }[] = [];
    const target = new URL(aws.endpoints.s3);
    const proxy = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
        const headers = { ...req.headers };
        delete headers.expect;
        const out = request(
          { host: target.hostname, port: target.port, method: req.method, path: req.url, headers },
          (answer) => {
            res.writeHead(answer.statusCode!, answer.headers);
            answer.pipe(res);
          },
        );
        out.end(body);
      });
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', () => resolve()));
    const s3 = makeS3Client({
      endpoint: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
      retry: { maxAttempts: 1 },
    });
    try {
      const objects = new S3ExportObjects({ s3, bucket: aws.bucket });
      const small = randomBytes(1000);
      await objects.put('exports/prod/unsigned-put.sktrace', small);
      const parts = [randomBytes(5 * 1024 * 1024 + 1), randomBytes(777)];
      const upload = await objects.startUpload('exports/prod/unsigned-parts.sktrace');
      await upload.uploadPart(1, parts[0]!);
      await upload.uploadPart(2, parts[1]!);
      await upload.complete();

      const bodies = seen.filter((r) => r.method === 'PUT');
      // The PutObject and the two UploadParts (a PUT with partNumber in the query).
      assert.equal(bodies.length, 3);
      assert.equal(bodies.filter((r) => r.url.includes('partNumber=')).length, 2);
      for (const r of bodies) {
        assert.equal(r.headers['x-amz-content-sha256'], 'UNSIGNED-PAYLOAD', r.url);
        // Sent at once, on a kept-alive connection (makeS3Client: no 100-continue wait).
        assert.equal(r.headers.expect, undefined, r.url);
        // Signed as such: the header is in the signature's SignedHeaders.
        assert.match(String(r.headers.authorization), /SignedHeaders=[^,]*x-amz-content-sha256/, r.url);
        const crc = Buffer.alloc(4);
        crc.writeUInt32BE(crc32(r.body));
        assert.equal(r.headers['x-amz-checksum-crc32'], crc.toString('base64'), r.url);
      }
      assert.deepEqual(
        bodies.map((r) => r.body.length),
        [small.length, parts[0]!.length, parts[1]!.length],
      );
      // s3rver stored what was sent.
      const put = await fetch(await objects.presign('exports/prod/unsigned-put.sktrace', 60));
      assert.deepEqual(Buffer.from(await put.arrayBuffer()), small);
      const multi = await fetch(await objects.presign('exports/prod/unsigned-parts.sktrace', 60));
      assert.deepEqual(Buffer.from(await multi.arrayBuffer()), Buffer.concat(parts));
    } finally {
      s3.destroy();
      proxy.closeAllConnections();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    }
  });

  it('caps a presign lifetime at SigV4’s 7 days', async () => {
    const objects = new S3ExportObjects({ s3: aws.s3, bucket: aws.bucket });
    const url = await objects.presign('exports/prod/x.sktrace', 30 * 86_400);
    assert.equal(new URL(url).searchParams.get('X-Amz-Expires'), String(7 * 86_400));
  });
});

describe('LambdaJobLauncher', () => {
  it('invokes the job function asynchronously (InvocationType Event) with the job reference', async () => {
    const seen: { req: IncomingMessage; body: string }[] = [];
    let status = 202;
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        seen.push({ req, body });
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(status === 202 ? '' : JSON.stringify({ Type: 'Service', message: 'boom' }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const lambda = makeLambdaClient({
      endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret' },
      retry: { maxAttempts: 1 },
    });
    try {
      const launcher = new LambdaJobLauncher({ lambda, functionName: 'sktrace-export-job' });
      await launcher.launch({ cluster: 'prod', id: 'abc' });
      const { req, body } = seen[0]!;
      assert.equal(req.method, 'POST');
      assert.equal(req.url, '/2015-03-31/functions/sktrace-export-job/invocations');
      assert.equal(req.headers['x-amz-invocation-type'], 'Event');
      assert.deepEqual(JSON.parse(body), { kind: 'export', cluster: 'prod', id: 'abc' });
      assert.match(String(req.headers.authorization), /^AWS4-HMAC-SHA256 Credential=AKIDTEST\//);

      status = 500;
      await assert.rejects(
        launcher.launch({ cluster: 'prod', id: 'def' }),
        (err: Error & { code?: string }) => {
          assert.equal(err.code, 'store_unavailable');
          assert.match(err.message, /Lambda Invoke \(Event\) of sktrace-export-job/);
          return true;
        },
      );
    } finally {
      lambda.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
