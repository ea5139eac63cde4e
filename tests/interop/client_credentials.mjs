// openid-client (v6) as a machine client of one Tessera issuer: discovery, the client
// credentials grant, RFC 9068 verification of a JWT access token (jose, the library
// openid-client itself is built on), introspection, revocation, introspection again.
//
// Input (environment, so the secret is not on a command line):
//   TESSERA_ISSUER, TESSERA_CLIENT_ID, TESSERA_CLIENT_SECRET
// Options:
//   --auth basic|post        client_secret_basic (default) or client_secret_post
//   --algorithm oidc|oauth2  which well-known document discovery() reads (default oidc)
//   --scope SCOPE            scope to request (default: none)
//
// Output: one JSON object on stdout. Every step that ran has its result; the first step that
// threw is in "error" (its library error name, code, message and server error fields), and
// the exit status is then 1. The Python test asserts on the JSON.
import { parseArgs } from 'node:util'
import * as client from 'openid-client'
import * as jose from 'jose'

const { values: opts } = parseArgs({
  options: {
    auth: { type: 'string', default: 'basic' },
    algorithm: { type: 'string', default: 'oidc' },
    scope: { type: 'string' },
  },
})

const issuer = process.env.TESSERA_ISSUER
const clientId = process.env.TESSERA_CLIENT_ID
const clientSecret = process.env.TESSERA_CLIENT_SECRET
const out = { library: 'openid-client', auth: opts.auth, algorithm: opts.algorithm, steps: [] }

function describe(err) {
  const seen = { name: err?.name, code: err?.code, message: err?.message }
  for (const key of ['status', 'error', 'error_description']) {
    if (err?.[key] !== undefined) seen[key] = err[key]
  }
  if (err?.cause !== undefined) {
    seen.cause = err.cause instanceof Error ? describe(err.cause) : summarize(err.cause)
  }
  return seen
}

// Causes can carry a Response or a parsed body; keep what serializes.
function summarize(value) {
  try {
    return JSON.parse(JSON.stringify(value))
  } catch {
    return String(value)
  }
}

async function step(name, fn) {
  out.current = name
  const result = await fn()
  out.steps.push(name)
  return result
}

async function main() {
  if (!issuer || !clientId || !clientSecret) {
    throw new Error('TESSERA_ISSUER, TESSERA_CLIENT_ID and TESSERA_CLIENT_SECRET are required')
  }
  const auth = { basic: client.ClientSecretBasic, post: client.ClientSecretPost }[opts.auth]
  if (!auth) throw new Error(`--auth must be basic or post, not ${opts.auth}`)

  // The suite listens on plain http on loopback: v6 refuses that unless told.
  const config = await step('discovery', () =>
    client.discovery(new URL(issuer), clientId, undefined, auth(clientSecret), {
      algorithm: opts.algorithm,
      execute: [client.allowInsecureRequests],
    }))
  const server = config.serverMetadata()
  out.discovery = {
    issuer: server.issuer,
    token_endpoint: server.token_endpoint,
    jwks_uri: server.jwks_uri,
    introspection_endpoint: server.introspection_endpoint,
    revocation_endpoint: server.revocation_endpoint,
  }

  const parameters = opts.scope ? { scope: opts.scope } : {}
  const tokens = await step('client_credentials', () => client.clientCredentialsGrant(config, parameters))
  out.token = {
    access_token: tokens.access_token,
    token_type: tokens.token_type,
    expires_in: tokens.expires_in,
    scope: tokens.scope,
  }

  if (tokens.access_token.split('.').length === 3) {
    // RFC 9068 §4: typ at+jwt, the issuer's key from its jwks_uri, iss and exp checked.
    const jwks = jose.createRemoteJWKSet(new URL(server.jwks_uri))
    const verified = await step('jwt_verify', () =>
      jose.jwtVerify(tokens.access_token, jwks, {
        issuer: server.issuer,
        typ: 'at+jwt',
        algorithms: ['ES256', 'RS256'],
        requiredClaims: ['iss', 'exp', 'aud', 'sub', 'client_id', 'iat', 'jti'],
      }))
    out.jwt = { header: verified.protectedHeader, claims: verified.payload }
  }

  out.introspection = await step('introspection', () => client.tokenIntrospection(config, tokens.access_token))
  await step('revocation', () => client.tokenRevocation(config, tokens.access_token))
  out.introspection_after_revocation = await step('introspection_after_revocation', () =>
    client.tokenIntrospection(config, tokens.access_token))
  delete out.current
}

try {
  await main()
  process.stdout.write(JSON.stringify(out) + '\n')
} catch (err) {
  out.error = describe(err)
  process.stdout.write(JSON.stringify(out) + '\n')
  process.exitCode = 1
}
