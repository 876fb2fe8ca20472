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
