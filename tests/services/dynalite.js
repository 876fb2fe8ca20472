#!/usr/bin/env node
// dynalite (a DynamoDB implementation) on 127.0.0.1, on an ephemeral port
// unless --port is given; writes its URL to --url-file once listening.
//
//   node dynalite.js [--port N] [--path DIR] [--url-file FILE] [--create-table-ms MS]
'use strict';

const fs = require('fs');

const a = {};
for (let i = 2; i + 1 < process.argv.length; i += 2) a[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
const opts = { createTableMs: Number(a['create-table-ms'] || 100), deleteTableMs: 100, updateTableMs: 100 };
if (a.path) opts.path = a.path;
const server = require('dynalite')(opts);

// dynalite has no UpdateTimeToLive, and its DescribeTimeToLive always says
// DISABLED. Both are served here, in memory, as DynamoDB answers them
// (ValidationException when TTL is already on, ResourceNotFoundException for
// an unknown table); every other call goes to dynalite.
const ttl = new Map(); // table -> AttributeName
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
      'Authorization': 'AWS4-HMAC-SHA256 Credential=internal/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0',
      'X-Amz-Date': '20260101T000000Z', 'Content-Length': Buffer.byteLength(body) },
  }, (r) => { r.resume(); r.on('end', () => cb(r.statusCode === 200)); });
  req.on('error', () => cb(false));
  req.end(body);
}
server.on('request', (req, res) => {
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
server.listen(Number(a.port || 0), '127.0.0.1', () => {
  const url = `http://127.0.0.1:${server.address().port}`;
  if (a['url-file']) {
    fs.writeFileSync(a['url-file'] + '.tmp', url + '\n');
    fs.renameSync(a['url-file'] + '.tmp', a['url-file']);
  }
  console.log(`dynalite listening at ${url}`);
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
