#!/usr/bin/env node
// dynalite (a DynamoDB implementation) on 127.0.0.1, on an ephemeral port
// unless --port is given; writes its URL to --url-file once listening.
//
//   node dynalite.js [--host ADDR] [--port N] [--path DIR] [--url-file FILE] [--create-table-ms MS]
//                    [--key AKID:SECRET ...] [--keys-url-file FILE]
//
// With --key (repeatable) or --keys-url-file, every request's SigV4 signature is
// checked with AWS's own signer (ecs-emulator/sigv4.js), as DynamoDB does: a wrong
// secret gets 403 InvalidSignatureException. Keys not given with --key (the session
// credentials the metadata emulator hands out, keys a test registers) are asked of
// the ECS emulator whose URL --keys-url-file holds.
'use strict';

const fs = require('fs');

const a = {};
const staticKeys = new Map();
for (let i = 2; i + 1 < process.argv.length; i += 2) {
  const k = process.argv[i].replace(/^--/, '');
  if (k === 'key') {
    const at = process.argv[i + 1].indexOf(':');
    staticKeys.set(process.argv[i + 1].slice(0, at), { secret: process.argv[i + 1].slice(at + 1), token: undefined, expiresAt: 0 });
  } else {
    a[k] = process.argv[i + 1];
  }
}
const checkSignatures = staticKeys.size > 0 || Boolean(a['keys-url-file']);
const opts = { createTableMs: Number(a['create-table-ms'] || 100), deleteTableMs: 100, updateTableMs: 100 };
if (a.path) opts.path = a.path;
const server = require('dynalite')(opts);

// dynalite has no UpdateTimeToLive, and its DescribeTimeToLive always says
// DISABLED. Both are served here, in memory, as DynamoDB answers them
// (ValidationException when TTL is already on, ResourceNotFoundException for
// an unknown table); every other call goes to dynalite.
const ttl = new Map(); // table -> AttributeName
// This process's own calls to dynalite (TTL's table check) skip the signature check.
const internalToken = require('crypto').randomBytes(16).toString('hex');
const dynaliteHandlers = server.listeners('request');
server.removeAllListeners('request');
function reply(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/x-amz-json-1.0', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}
function tableExists(name, cb) {
  const body = JSON.stringify({ TableName: name });
  const req = require('http').request({
    host: '127.0.0.1', port: server.address().port, method: 'POST', path: '/',
    headers: { 'Content-Type': 'application/x-amz-json-1.0', 'X-Amz-Target': 'DynamoDB_20120810.DescribeTable',
      'X-Berth-Internal': internalToken,
      'Authorization': 'AWS4-HMAC-SHA256 Credential=internal/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0',
      'X-Amz-Date': '20260101T000000Z', 'Content-Length': Buffer.byteLength(body) },
  }, (r) => { r.resume(); r.on('end', () => cb(r.statusCode === 200)); });
  req.on('error', () => cb(false));
  req.end(body);
}
const { verify } = require('./ecs-emulator/sigv4');

// A Map-like store: the static keys, else what the ECS emulator knows (fetched, kept 5 s).
const fetched = new Map();
async function keyFor(akid) {
  if (staticKeys.has(akid)) return staticKeys.get(akid);
  const hit = fetched.get(akid);
  if (hit && Date.now() - hit.at < 5000) return hit.key;
  let key;
  try {
    const base = fs.readFileSync(a['keys-url-file'], 'utf8').trim();
    const r = await fetch(`${base}/_emulator/keys/${encodeURIComponent(akid)}`);
    if (r.status === 200) {
      const k = await r.json();
      key = { secret: k.secret_access_key, token: k.session_token || undefined, expiresAt: k.expires_at_ms || 0 };
    }
  } catch (e) {
    key = undefined;
  }
  fetched.set(akid, { key, at: Date.now() });
  return key;
}

function readBody(req) {
  return new Promise((resolve) => {
    const parts = [];
    req.on('data', (c) => parts.push(c));
    req.on('end', () => resolve(Buffer.concat(parts)));
  });
}

// The checked request goes on to dynalite with its body replayed.
async function checked(req, res, next) {
  const body = await readBody(req);
  const m = /Credential=([^/]+)\//.exec(req.headers.authorization || '');
  const keys = new Map();
  if (m) {
    const k = await keyFor(m[1]);
    if (k) keys.set(m[1], k);
  }
  const v = await verify(req, body, keys, 'dynamodb');
  if (!v.ok) return reply(res, v.status, { __type: `com.amazon.coral.service#${v.type}`, message: v.message });
  const { Readable } = require('stream');
  const replay = Object.assign(Readable.from([body]), {
    headers: req.headers, method: req.method, url: req.url, httpVersion: req.httpVersion,
    socket: req.socket, connection: req.socket,
  });
  next(replay, res);
}

server.on('request', (req, res) => {
  const internal = req.headers['x-berth-internal'] === internalToken;
  if (checkSignatures && !req.__checked && !internal) {
    checked(req, res, (r2, res2) => {
      r2.__checked = true;
      server.emit('request', r2, res2);
    });
    return;
  }
  const target = String(req.headers['x-amz-target'] || '');
  const op = target.slice(target.indexOf('.') + 1);
  if (op !== 'UpdateTimeToLive' && op !== 'DescribeTimeToLive') {
    for (const h of dynaliteHandlers) h.call(server, req, res);
    return;
  }
  let data = '';
  req.setEncoding('utf8');
  req.on('data', (c) => { if (data.length < 65536) data += c; });
  req.on('end', () => {
    let body;
    try { body = JSON.parse(data); } catch (e) { body = null; }
    if (!body || typeof body.TableName !== 'string')
      return reply(res, 400, { __type: 'com.amazon.coral.validate#ValidationException', message: 'TableName is required' });
    tableExists(body.TableName, (ok) => {
      if (!ok)
        return reply(res, 400, { __type: 'com.amazonaws.dynamodb.v20120810#ResourceNotFoundException', message: 'Requested resource not found' });
      const have = ttl.get(body.TableName);
      if (op === 'DescribeTimeToLive')
        return reply(res, 200, { TimeToLiveDescription: have ? { TimeToLiveStatus: 'ENABLED', AttributeName: have } : { TimeToLiveStatus: 'DISABLED' } });
      const spec = body.TimeToLiveSpecification || {};
      if (typeof spec.AttributeName !== 'string' || typeof spec.Enabled !== 'boolean')
        return reply(res, 400, { __type: 'com.amazon.coral.validate#ValidationException', message: 'TimeToLiveSpecification needs AttributeName and Enabled' });
      if (spec.Enabled && have)
        return reply(res, 400, { __type: 'com.amazon.coral.validate#ValidationException', message: 'TimeToLive is already enabled' });
      if (spec.Enabled) ttl.set(body.TableName, spec.AttributeName); else ttl.delete(body.TableName);
      reply(res, 200, { TimeToLiveSpecification: spec });
    });
  });
});
server.listen(Number(a.port || 0), a.host || '127.0.0.1', () => {
  const url = `http://${a.host || '127.0.0.1'}:${server.address().port}`;
  if (a['url-file']) {
    fs.writeFileSync(a['url-file'] + '.tmp', url + '\n');
    fs.renameSync(a['url-file'] + '.tmp', a['url-file']);
  }
  console.log(`dynalite listening at ${url}`);
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
