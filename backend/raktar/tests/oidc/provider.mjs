// A real OpenID Connect provider (npm `oidc-provider`) for backend/raktar/tests/oidc_e2e.rs.
//
// Protocol with the test (line based):
//   1. listens on 127.0.0.1:0 and prints `ISSUER http://127.0.0.1:PORT`
//   2. reads `REDIRECT <uri>` from stdin (Raktar's callback, known once Raktar runs)
//   3. prints `READY`; exits when stdin closes
//
// Configuration (environment):
//   OIDC_KEY_PEM       path of the RSA signing key (PKCS#8 PEM), published in the JWKS as kid `raktar-test-1`
//   OIDC_ACCOUNTS      path of a JSON file { "<login>": { "password": "...", "claims": { ... } } },
//                      read on every sign-in (the test edits it between sign-ins)
//   OIDC_CLIENT_ID     the confidential client (client_secret_basic), PKCE required
//   OIDC_CLIENT_SECRET
//
// Sign-in: the provider's own interaction is a plain HTML form (POST /interaction/:uid/login with
// `login` and `password`); consent is granted automatically (first-party client).

import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { createPrivateKey } from 'node:crypto';
import { createInterface } from 'node:readline';
import Provider from 'oidc-provider';

const env = (name) => {
  const v = process.env[name];
  if (!v) {
    console.error(`provider.mjs: ${name} is not set`);
    process.exit(2);
  }
  return v;
};

const keyPem = readFileSync(env('OIDC_KEY_PEM'));
const accountsPath = env('OIDC_ACCOUNTS');
const clientId = env('OIDC_CLIENT_ID');
const clientSecret = env('OIDC_CLIENT_SECRET');

const jwk = { ...createPrivateKey(keyPem).export({ format: 'jwk' }), kid: 'raktar-test-1', use: 'sig', alg: 'RS256' };
const accounts = () => JSON.parse(readFileSync(accountsPath, 'utf8'));

const escapeHtml = (s) =>
  String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

let handler = (_req, res) => {
  res.statusCode = 503;
  res.end('not ready');
};
const server = createServer((req, res) => handler(req, res));
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;
console.log(`ISSUER ${issuer}`);

const lines = createInterface({ input: process.stdin });
const redirect = await new Promise((resolve) => {
  lines.once('line', (line) => resolve(line.replace(/^REDIRECT\s+/, '').trim()));
});
process.stdin.on('end', () => process.exit(0));
lines.on('close', () => process.exit(0));

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: [redirect],
      response_types: ['code'],
      grant_types: ['authorization_code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  jwks: { keys: [jwk] },
  pkce: { required: () => true },
  // Scope claims go into the ID token (Cognito does the same); the default keeps them for userinfo.
  conformIdTokenClaims: false,
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username'],
    email: ['email', 'email_verified'],
    groups: ['groups'],
  },
  scopes: ['openid', 'profile', 'email', 'groups'],
  features: { devInteractions: { enabled: false } },
  cookies: { keys: ['raktar-oidc-test-cookie-key'] },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(_ctx, id) {
    const account = accounts()[id];
    if (!account) return undefined;
    return { accountId: id, claims: async () => ({ sub: id, ...account.claims }) };
  },
  // First-party client: grant whatever it asks for, no consent screen.
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) {
      const existing = await ctx.oidc.provider.Grant.find(grantId);
      if (existing) return existing;
    }
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope(ctx.oidc.params.scope || 'openid');
    await grant.save();
    return grant;
  },
  renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = `<!doctype html><h1>oops</h1><pre>${escapeHtml(JSON.stringify(out))}</pre>`;
  },
});
provider.on('server_error', (_ctx, err) => console.error('provider server_error', err));

const loginForm = (uid, error) => `<!doctype html><html><body>
<h1>Test provider sign-in</h1>${error ? `<p class="error">${escapeHtml(error)}</p>` : ''}
<form method="post" action="/interaction/${escapeHtml(uid)}/login">
<input name="login"><input name="password" type="password"><button type="submit">Sign in</button>
</form></body></html>`;

const readBody = (req) =>
  new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c) => {
      body += c;
      if (body.length > 65536) reject(new Error('body too large'));
    });
    req.on('end', () => resolve(new URLSearchParams(body)));
    req.on('error', reject);
  });

const interactions = async (req, res) => {
  const url = new URL(req.url, issuer);
  const match = url.pathname.match(/^\/interaction\/([^/]+)(\/login)?$/);
  if (!match) return false;
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== match[1]) {
    res.statusCode = 400;
    res.end('interaction mismatch');
    return true;
  }
  if (req.method === 'GET') {
    res.setHeader('content-type', 'text/html; charset=utf-8');
    res.end(loginForm(details.uid));
    return true;
  }
  if (req.method === 'POST' && match[2]) {
    const form = await readBody(req);
    const login = form.get('login') || '';
    const account = accounts()[login];
    if (!account || account.password !== form.get('password')) {
      res.statusCode = 401;
      res.setHeader('content-type', 'text/html; charset=utf-8');
      res.end(loginForm(details.uid, 'invalid login or password'));
      return true;
    }
    await provider.interactionFinished(req, res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
    return true;
  }
  res.statusCode = 405;
  res.end();
  return true;
};

const callback = provider.callback();
handler = (req, res) => {
  interactions(req, res)
    .then((handled) => {
      if (!handled) callback(req, res);
    })
    .catch((err) => {
      console.error('interaction error', err);
      if (!res.headersSent) {
        res.statusCode = 500;
        res.end(String(err));
      }
    });
};
console.log('READY');
