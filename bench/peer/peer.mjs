// The peer for Tessera's benchmarks: oidc-provider (version pinned in package-lock.json), one
// Node.js process, configured as a user would to do what Tessera's benchmark scenarios do.
//
//   node peer.mjs PORT CLIENT_SECRET [REDIS_URL]
//
// Client credentials, both client_secret_basic with the same secret:
//   bench         -> ES256 JWT access tokens (RFC 9068, typ at+jwt) for the default resource
//   bench-opaque  -> opaque access tokens, kept in Redis (redis_adapter.mjs) when REDIS_URL is
//                    given, else in oidc-provider's development in-memory adapter (an LRU of
//                    1,000 entries: under load it forgets tokens)
// The code flow, both confidential (client_secret_basic, same secret), authorization_code and
// refresh_token, PKCE S256 sent by the benchmark, redirect URI REDIRECT_URI below:
//   bench-code        -> ES256 JWT access tokens for the default resource (like `bench`)
//   bench-code-opaque -> no resource: oidc-provider's userinfo tokens (opaque; oidc-provider
//                        accepts no other kind at its userinfo endpoint)
// Refresh tokens rotate on every use (rotateRefreshToken: true); ID tokens RS256; userinfo on.
// Users live in the same Redis (REDIS_URL required for the code flow), written in bulk by the
// benchmark (bench/peer_users.py): `user:login:{username}` is a hash {sub, hash} (hash: an
// argon2id PHC string, m=19456 KiB, t=2, p=1, verified with npm `argon2`, libargon2 like
// Tessera's argon2-cffi); `user:account:{sub}` is the JSON of the user's claims.
// The sign-in (oidc-provider's interactions, after its own example): GET /interaction/:uid
// answers a login form (hidden `csrf`: an HMAC of the interaction id); POST
// /interaction/:uid/login with username, password, csrf checks the password and finishes the
// interaction with the login and, in the same step, the consent (a Grant of the requested
// scopes: what Tessera's `skip_consent: true` does). A GET of an interaction that only needs
// consent (an existing session: prompt=consent, which oidc-provider requires for
// offline_access) grants it at once, the same way.
// Introspection (RFC 7662) and revocation (RFC 7009) are on. JWKS: one ES256 key (access
// tokens) and one RSA 2048 key (ID tokens), made at start.
// It prints one line "peer ready <url>" when it listens.
import { createHmac, generateKeyPairSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { createRequire } from 'node:module';

import argon2 from 'argon2';
import { Redis } from 'ioredis';
import Provider from 'oidc-provider';

import { redisAdapter } from './redis_adapter.mjs';

const [portArg, secretArg, redisUrl] = process.argv.slice(2);
const port = Number(portArg);
if (!Number.isInteger(port) || port <= 0 || !secretArg) {
  console.error('usage: node peer.mjs PORT CLIENT_SECRET [REDIS_URL]');
  process.exit(2);
}

export const REDIRECT_URI = 'https://client.example/callback';
export const CODE_SCOPES = 'openid profile email offline_access';

const issuer = `http://127.0.0.1:${port}`;
const resource = `${issuer}/bench`; // the audience of every JWT access token (like Tessera's issuer)
const formats = { bench: 'jwt', 'bench-opaque': 'opaque', 'bench-code': 'jwt' };

const { privateKey: ecKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const { privateKey: rsaKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKeys = [
  { ...ecKey.export({ format: 'jwk' }), kid: 'bench-es256', alg: 'ES256', use: 'sig' },
  { ...rsaKey.export({ format: 'jwk' }), kid: 'bench-rs256', alg: 'RS256', use: 'sig' },
];

const ccClient = (clientId) => ({
  client_id: clientId,
  client_secret: secretArg,
  grant_types: ['client_credentials'],
  response_types: [],
  redirect_uris: [],
  token_endpoint_auth_method: 'client_secret_basic',
});

const codeClient = (clientId) => ({
  client_id: clientId,
  client_secret: secretArg,
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  redirect_uris: [REDIRECT_URI],
  token_endpoint_auth_method: 'client_secret_basic',
  id_token_signed_response_alg: 'RS256',
});

const users = redisUrl ? new Redis(redisUrl, { enableAutoPipelining: true }) : null;
const ARGON2 = { type: argon2.argon2id, memoryCost: 19456, timeCost: 2, parallelism: 1 };
const csrfKey = randomBytes(32);
const csrfFor = (uid) => createHmac('sha256', csrfKey).update(uid).digest('base64url');

async function findAccount(_ctx, sub) {
  if (!users) return undefined;
  const claims = await users.get(`user:account:${sub}`);
  if (!claims) return undefined;
  return { accountId: sub, claims: async () => ({ ...JSON.parse(claims), sub }) };
}

export const configuration = {
  ...(redisUrl ? { adapter: redisAdapter(redisUrl) } : {}),
  clients: [...['bench', 'bench-opaque'].map(ccClient), ...['bench-code', 'bench-code-opaque'].map(codeClient)],
  jwks: { keys: signingKeys },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  clientDefaults: { id_token_signed_response_alg: 'RS256' },
  enabledJWA: { idTokenSigningAlgValues: ['RS256', 'ES256'] },
  scopes: ['openid', 'offline_access', 'profile', 'email'],
  claims: {
    openid: ['sub'],
    profile: ['name', 'given_name', 'family_name', 'preferred_username'],
    email: ['email', 'email_verified'],
  },
  findAccount,
  rotateRefreshToken: true,
  ttl: {
    ClientCredentials: 3600,
    AccessToken: 3600,
    AuthorizationCode: 60, // as Tessera's (at most a minute, RFC 9700)
    IdToken: 3600,
    RefreshToken: 30 * 24 * 3600,
    Interaction: 600,
    Session: 24 * 3600,
    Grant: 30 * 24 * 3600,
  },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    userinfo: { enabled: true },
    introspection: {
      enabled: true,
      // any authenticated client of this issuer may introspect (as in Tessera)
      allowedPolicy: async () => true,
    },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // bench-code-opaque asks for no resource: its access tokens are for userinfo
      defaultResource: async (ctx, client) => (client?.clientId === 'bench-code-opaque' ? undefined : resource),
      useGrantedResource: async () => true,
      getResourceServerInfo: async (_ctx, _indicator, oidcClient) => ({
        scope: '',
        audience: resource,
        accessTokenTTL: 3600,
        accessTokenFormat: formats[oidcClient.clientId] ?? 'jwt',
        jwt: { sign: { alg: 'ES256' } },
      }),
    },
  },
};

const provider = new Provider(issuer, configuration);
provider.on('server_error', (_ctx, err) => console.error('server_error', err));

// The sign-in interaction ---------------------------------------------------------------------
const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 16384) throw new Error('body too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

// the consent Tessera's skip_consent gives: every scope requested, and the resource's
async function grantAll(details, accountId) {
  const { params } = details;
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId, clientId: params.client_id });
  if (params.scope) grant.addOIDCScope(params.scope);
  const missing = details.prompt.details.missingResourceScopes;
  if (missing) {
    for (const [indicator, scopes] of Object.entries(missing)) grant.addResourceScope(indicator, scopes.join(' '));
  }
  return grant.save();
}

function loginPage(uid, error) {
  return `<!doctype html><html><head><meta charset="utf-8"><title>Sign in</title></head><body>
<h1>Sign in</h1>${error ? `<p class="error">${escape(error)}</p>` : ''}
<form method="post" action="/interaction/${escape(uid)}/login">
<input type="hidden" name="csrf" value="${escape(csrfFor(uid))}">
<label>Username <input name="username" autocomplete="username" required></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">Sign in</button>
</form></body></html>`;
}

provider.use(async (ctx, next) => {
  const match = /^\/interaction\/([\w-]+)(\/login)?$/.exec(ctx.path);
  if (!match) return next();
  const [, uid, login] = match;
  ctx.set('Cache-Control', 'no-store');
  let details;
  try {
    details = await provider.interactionDetails(ctx.req, ctx.res);
  } catch {
    ctx.status = 400;
    ctx.body = 'unknown or expired sign-in';
    return undefined;
  }
  if (details.uid !== uid) {
    ctx.status = 400;
    ctx.body = 'sign-in mismatch';
    return undefined;
  }
  if (ctx.method === 'GET' && !login) {
    if (details.prompt.name === 'consent' && details.session?.accountId) {
      const grantId = await grantAll(details, details.session.accountId);
      ctx.status = 303;
      ctx.redirect(await provider.interactionResult(ctx.req, ctx.res, { consent: { grantId } },
        { mergeWithLastSubmission: true }));
      return undefined;
    }
    ctx.type = 'html';
    ctx.body = loginPage(uid);
    return undefined;
  }
  if (ctx.method !== 'POST' || !login || details.prompt.name !== 'login') {
    ctx.status = 405;
    return undefined;
  }
  const form = await readForm(ctx.req);
  const csrf = Buffer.from(form.get('csrf') ?? '');
  const expected = Buffer.from(csrfFor(uid));
  if (csrf.length !== expected.length || !timingSafeEqual(csrf, expected)) {
    ctx.status = 403;
    ctx.body = 'bad csrf token';
    return undefined;
  }
  const username = form.get('username') ?? '';
  const [sub, hash] = users ? await users.hmget(`user:login:${username}`, 'sub', 'hash') : [];
  // unknown users cost a verification too, so that timing does not tell who exists
  const ok = await argon2.verify(hash ?? DUMMY_HASH, form.get('password') ?? '').catch(() => false);
  if (!sub || !ok) {
    ctx.status = 200;
    ctx.type = 'html';
    ctx.body = loginPage(uid, 'Wrong username or password');
    return undefined;
  }
  const grantId = await grantAll({ ...details, prompt: { details: {} } }, sub);
  ctx.status = 303;
  ctx.redirect(await provider.interactionResult(ctx.req, ctx.res, {
    login: { accountId: sub, amr: ['pwd'] },
    consent: { grantId },
  }, { mergeWithLastSubmission: false }));
  return undefined;
});

const DUMMY_HASH = await argon2.hash(randomBytes(16).toString('hex'), ARGON2);

const require = createRequire(import.meta.url);
const { version } = require('oidc-provider/package.json');
const argon2Version = require('argon2/package.json').version;

provider.listen(port, '127.0.0.1', () => {
  const store = redisUrl ? 'redis adapter' : 'in-memory adapter';
  console.log(`peer ready ${issuer} oidc-provider ${version} argon2 ${argon2Version} node ${process.version} ${store}`);
});
