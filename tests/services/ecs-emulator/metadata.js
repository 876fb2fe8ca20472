// Metadata emulators on 127.0.0.1: ECS container credentials (relative
// /v2/credentials/<id> and a full-URI route with an authorization token) and
// IMDSv2 (token PUT, instance-role credentials, region, IPs). Every set of
// credentials handed out is registered with the ECS emulator's key store with
// its expiry, so a client that keeps using expired credentials gets 403.
'use strict';

const crypto = require('crypto');

const TOKEN_TTL_MAX = 21600;

class Metadata {
  constructor({ region, keys }) {
    this.region = region;
    this.keys = keys;
    this.ttl_s = 3600; // lifetime of the credentials handed out
    this.auth_token = ''; // required Authorization value for the full-URI route when set
    this.role = 'berth-test-role';
    this.local_ipv4 = '127.0.0.1';
    this.public_ipv4 = '127.0.0.1';
    this.imds_tokens = new Map(); // token -> expiry ms
    this.stats = { container_credentials: 0, imds_credentials: 0, imds_tokens: 0, imds_unauthorized: 0 };
  }

  issue() {
    const akid = 'ASIA' + crypto.randomBytes(8).toString('hex').toUpperCase();
    const secret = crypto.randomBytes(30).toString('base64');
    const token = 'IQoJb3JpZ2luX2VjE' + crypto.randomBytes(48).toString('base64');
    const expiresAt = Date.now() + this.ttl_s * 1000;
    this.keys.set(akid, { secret, token, expiresAt });
    return {
      AccessKeyId: akid,
      SecretAccessKey: secret,
      Token: token,
      Expiration: new Date(expiresAt).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    };
  }

  handle(req, res, body) {
    const send = (status, obj, type = 'application/json') => {
      const data = Buffer.from(typeof obj === 'string' ? obj : JSON.stringify(obj));
      res.writeHead(status, { 'Content-Type': type, 'Content-Length': data.length });
      res.end(data);
    };
    const text = (status, s) => send(status, s, 'text/plain');
    const path = req.url.split('?')[0];

    if (path === '/_emulator/config' && req.method === 'POST') {
      let p;
      try {
        p = JSON.parse(body.toString('utf8') || '{}');
      } catch (e) {
        return send(400, { error: 'bad JSON' });
      }
      for (const k of ['ttl_s', 'auth_token', 'role', 'local_ipv4', 'public_ipv4']) if (k in p) this[k] = p[k];
      return send(200, { ok: true });
    }
    if (path === '/_emulator/stats' && req.method === 'GET') return send(200, this.stats);

    // ECS container credentials.
    if (req.method === 'GET' && (path.startsWith('/v2/credentials/') || path === '/creds')) {
      if (path === '/creds' && this.auth_token && req.headers.authorization !== this.auth_token) {
        return send(401, { code: 'Unauthorized', message: 'authorization token mismatch' });
      }
      this.stats.container_credentials++;
      return send(200, { RoleArn: `arn:aws:iam::123456789012:role/${this.role}`, ...this.issue() });
    }

    // IMDSv2.
    if (path === '/latest/api/token') {
      if (req.method !== 'PUT') return text(405, 'Method Not Allowed');
      const ttl = Number(req.headers['x-aws-ec2-metadata-token-ttl-seconds']);
      if (!Number.isInteger(ttl) || ttl < 1 || ttl > TOKEN_TTL_MAX) return text(400, 'Bad Request');
      const tok = crypto.randomBytes(32).toString('base64');
      this.imds_tokens.set(tok, Date.now() + ttl * 1000);
      this.stats.imds_tokens++;
      res.setHeader('X-aws-ec2-metadata-token-ttl-seconds', String(ttl));
      return text(200, tok);
    }
    if (path.startsWith('/latest/')) {
      if (req.method !== 'GET') return text(405, 'Method Not Allowed');
      const tok = req.headers['x-aws-ec2-metadata-token'];
      const exp = tok && this.imds_tokens.get(tok);
      if (!exp || exp < Date.now()) {
        this.stats.imds_unauthorized++;
        return text(401, 'Unauthorized');
      }
      const md = '/latest/meta-data/';
      const creds = md + 'iam/security-credentials/';
      if (path === creds) return text(200, this.role);
      if (path === creds + this.role) {
        this.stats.imds_credentials++;
        const c = this.issue();
        return send(200, { Code: 'Success', LastUpdated: new Date().toISOString(), Type: 'AWS-HMAC', ...c });
      }
      if (path === md + 'placement/region') return text(200, this.region);
      if (path === md + 'local-ipv4') return text(200, this.local_ipv4);
      if (path === md + 'public-ipv4') {
        if (!this.public_ipv4) return text(404, 'Not Found');
        return text(200, this.public_ipv4);
      }
      if (path === md + 'instance-id') return text(200, 'i-0123456789abcdef0');
      if (path === '/latest/dynamic/instance-identity/document') {
        return send(200, {
          region: this.region,
          instanceId: 'i-0123456789abcdef0',
          privateIp: this.local_ipv4,
          accountId: '123456789012',
        });
      }
      return text(404, 'Not Found');
    }
    return text(404, 'Not Found');
  }
}

module.exports = { Metadata };
