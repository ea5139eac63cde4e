// The peer for Tessera's benchmarks: oidc-provider (version pinned in package-lock.json), one
// Node.js process, configured as a user would to do what Tessera's benchmark scenarios do.
//
//   node peer.mjs PORT CLIENT_SECRET [REDIS_URL]
//
// Two clients, both client_credentials with client_secret_basic and the same secret:
//   bench         -> ES256 JWT access tokens (RFC 9068, typ at+jwt) for the default resource
//   bench-opaque  -> opaque access tokens, kept in Redis (redis_adapter.mjs) when REDIS_URL is
//                    given, else in oidc-provider's development in-memory adapter (an LRU of
//                    1,000 entries: under load it forgets tokens)
// Introspection (RFC 7662) and revocation (RFC 7009) are on. JWKS: one ES256 key made at start.
// It prints one line "peer ready <url>" when it listens.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';

import Provider from 'oidc-provider';

import { redisAdapter } from './redis_adapter.mjs';

const [portArg, secretArg, redisUrl] = process.argv.slice(2);
const port = Number(portArg);
if (!Number.isInteger(port) || port <= 0 || !secretArg) {
  console.error('usage: node peer.mjs PORT CLIENT_SECRET [REDIS_URL]');
  process.exit(2);
}

const issuer = `http://127.0.0.1:${port}`;
const resource = `${issuer}/bench`; // the audience of every access token (like Tessera's issuer)
const formats = { bench: 'jwt', 'bench-opaque': 'opaque' };

const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'bench-es256', alg: 'ES256', use: 'sig' };

const client = (clientId) => ({
  client_id: clientId,
  client_secret: secretArg,
  grant_types: ['client_credentials'],
  response_types: [],
  redirect_uris: [],
  token_endpoint_auth_method: 'client_secret_basic',
});

export const configuration = {
  ...(redisUrl ? { adapter: redisAdapter(redisUrl) } : {}),
  clients: Object.keys(formats).map(client),
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  clientDefaults: { id_token_signed_response_alg: 'ES256' },
  enabledJWA: { idTokenSigningAlgValues: ['ES256'] },
  ttl: { ClientCredentials: 3600 },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: {
      enabled: true,
      // any authenticated client of this issuer may introspect (as in Tessera)
      allowedPolicy: async () => true,
    },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async () => resource,
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

const require = createRequire(import.meta.url);
const { version } = require('oidc-provider/package.json');

provider.listen(port, '127.0.0.1', () => {
  const store = redisUrl ? 'redis adapter' : 'in-memory adapter';
  console.log(`peer ready ${issuer} oidc-provider ${version} node ${process.version} ${store}`);
});
