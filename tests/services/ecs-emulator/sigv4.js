// SigV4 verification for the emulators: recompute the signature of an incoming
// request with @smithy/signature-v4 over exactly the headers the client signed,
// and compare. Answers like AWS: 403 with an AWS JSON error body.
'use strict';

const { SignatureV4 } = require('@smithy/signature-v4');
const { Hash } = require('@smithy/hash-node');

const Sha256 = Hash.bind(null, 'sha256');
const MAX_SKEW_MS = 15 * 60 * 1000;

const AUTH_RE =
  /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([a-z0-9;._-]+), ?Signature=([0-9a-f]{64})$/;

function parseAmzDate(s) {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s || '');
  if (!m) return null;
  return new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
}

function fail(status, type, message) {
  return { ok: false, status, type, message };
}

// keys: Map accessKeyId -> { secret, token (or undefined), expiresAt (ms or 0) }
// Returns { ok: true, accessKeyId } or { ok: false, status, type, message }.
async function verify(req, body, keys, service, now = Date.now()) {
  const auth = req.headers.authorization;
  if (!auth) return fail(400, 'MissingAuthenticationTokenException', 'Missing Authentication Token');
  const m = AUTH_RE.exec(auth);
  if (!m) return fail(400, 'IncompleteSignatureException', 'Authorization header is malformed');
  const [, akid, shortDate, region, svc, signedList, signature] = m;
  const key = keys.get(akid);
  if (!key) {
    return fail(403, 'UnrecognizedClientException', 'The security token included in the request is invalid.');
  }
  if (svc !== service) {
    return fail(403, 'InvalidSignatureException', `Credential should be scoped to correct service: '${service}'.`);
  }
  const rawDate = req.headers['x-amz-date'];
  if (rawDate && rawDate.includes(',')) {
    return fail(400, 'IncompleteSignatureException', 'X-Amz-Date is given more than once');
  }
  const date = parseAmzDate(rawDate);
  if (!date) return fail(400, 'IncompleteSignatureException', 'X-Amz-Date is missing or malformed');
  if (rawDate.slice(0, 8) !== shortDate) {
    return fail(403, 'InvalidSignatureException', 'Date in Credential scope does not match YYYYMMDD from X-Amz-Date');
  }
  if (Math.abs(now - date.getTime()) > MAX_SKEW_MS) {
    return fail(403, 'InvalidSignatureException', 'Signature expired: the request time is more than 15 minutes from the server time.');
  }
  const signed = signedList.split(';');
  if (!signed.includes('host')) {
    return fail(403, 'InvalidSignatureException', "'Host' must be a signed header.");
  }
  const token = req.headers['x-amz-security-token'];
  if (key.token) {
    if (token !== key.token || !signed.includes('x-amz-security-token')) {
      return fail(403, 'UnrecognizedClientException', 'The security token included in the request is invalid.');
    }
    if (key.expiresAt && now >= key.expiresAt) {
      return fail(403, 'ExpiredTokenException', 'The security token included in the request is expired');
    }
  } else if (token !== undefined) {
    return fail(403, 'UnrecognizedClientException', 'The security token included in the request is invalid.');
  }

  const headers = {};
  for (const name of signed) {
    if (name === 'x-amz-date' || name === 'x-amz-security-token') continue;
    const v = req.headers[name];
    if (v === undefined) {
      return fail(403, 'InvalidSignatureException', `Signed header '${name}' is missing from the request.`);
    }
    headers[name] = Array.isArray(v) ? v.join(',') : v;
  }
  const url = new URL(req.url, 'http://placeholder');
  const query = {};
  for (const [k, v] of url.searchParams) query[k] = v;
  const signer = new SignatureV4({
    credentials: { accessKeyId: akid, secretAccessKey: key.secret, sessionToken: key.token },
    region,
    service,
    sha256: Sha256,
    applyChecksum: false,
  });
  const out = await signer.sign(
    { method: req.method, protocol: 'http:', hostname: 'placeholder', path: url.pathname, query, headers, body },
    { signingDate: date, signableHeaders: new Set(signed) },
  );
  const want = AUTH_RE.exec(out.headers.authorization);
  if (!want || want[5] !== signedList || want[6] !== signature) {
    return fail(
      403,
      'InvalidSignatureException',
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
    );
  }
  return { ok: true, accessKeyId: akid };
}

module.exports = { verify };
