// openid-client (v6) as the relying party of a Tessera issuer, for the authorization code
// flow: discovery, an authorization URL with PKCE (S256), state and nonce; the user signs in
// (the Python test plays the user: this script prints the URL and reads back the URL the user
// agent was redirected to); the code redeemed with its ID token validated (iss, aud, nonce,
// exp, RFC 9207 iss of the authorization response), the ID token's signature checked with
// jose against the jwks_uri; userinfo; a refresh with rotation; the old refresh token
// replayed (must fail) and then the rotated one (must fail too: the family is revoked).
//
// Input (environment): TESSERA_ISSUER, TESSERA_CLIENT_ID, TESSERA_CLIENT_SECRET (empty: a
// public client, auth method none), TESSERA_REDIRECT_URI.
// Protocol: stdout line 1 {"authorization_url": …}; stdin line 1 the callback URL; stdout
// line 2 the result JSON (exit status 1 when a step threw; the step and error are in it).
import { createInterface } from 'node:readline'
import * as client from 'openid-client'
import * as jose from 'jose'

const issuer = process.env.TESSERA_ISSUER
const clientId = process.env.TESSERA_CLIENT_ID
const clientSecret = process.env.TESSERA_CLIENT_SECRET || ''
const redirectUri = process.env.TESSERA_REDIRECT_URI
const out = { library: 'openid-client', public: clientSecret === '', steps: [] }

function describe(err) {
  const seen = { name: err?.name, code: err?.code, message: err?.message }
  for (const key of ['status', 'error', 'error_description']) {
    if (err?.[key] !== undefined) seen[key] = err[key]
  }
  if (err?.cause instanceof Error) seen.cause = describe(err.cause)
  return seen
}

async function step(name, fn) {
  out.current = name
  const result = await fn()
  out.steps.push(name)
  return result
}

async function failure(name, fn) {
  try {
    await fn()
    return { name, failed: false }
  } catch (err) {
    return { name, failed: true, error: err?.error, status: err?.status }
  }
}

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]()

async function main() {
  const auth = clientSecret ? client.ClientSecretBasic(clientSecret) : client.None()
  const config = await step('discovery', () =>
    client.discovery(new URL(issuer), clientId, undefined, auth, { execute: [client.allowInsecureRequests] }))
  const server = config.serverMetadata()

  const verifier = client.randomPKCECodeVerifier()
  const state = client.randomState()
  const nonce = client.randomNonce()
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: 'openid profile email offline_access',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    prompt: 'consent', // OIDC Core §11: offline_access is honoured with prompt=consent
  })
  process.stdout.write(JSON.stringify({ authorization_url: url.href }) + '\n')
  const callback = (await lines.next()).value
  out.callback_has_iss = new URL(callback).searchParams.get('iss') === server.issuer

  const tokens = await step('authorization_code', () =>
    client.authorizationCodeGrant(config, new URL(callback), {
      pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true,
    }))
  out.token = { token_type: tokens.token_type, expires_in: tokens.expires_in, scope: tokens.scope,
    has_refresh_token: typeof tokens.refresh_token === 'string' }
  out.id_token_claims = tokens.claims()

  const jwks = jose.createRemoteJWKSet(new URL(server.jwks_uri))
  const verified = await step('id_token_signature', () =>
    jose.jwtVerify(tokens.id_token, jwks, { issuer: server.issuer, audience: clientId }))
  out.id_token_header = verified.protectedHeader

  out.userinfo = await step('userinfo', () =>
    client.fetchUserInfo(config, tokens.access_token, out.id_token_claims.sub))

  const refreshed = await step('refresh', () => client.refreshTokenGrant(config, tokens.refresh_token))
  out.refreshed = { rotated: refreshed.refresh_token !== tokens.refresh_token,
    has_id_token: typeof refreshed.id_token === 'string',
    id_token_sub: refreshed.id_token ? refreshed.claims().sub : null }
  out.replay_old = await failure('replay_old', () => client.refreshTokenGrant(config, tokens.refresh_token))
  out.use_rotated_after_replay = await failure('use_rotated_after_replay',
    () => client.refreshTokenGrant(config, refreshed.refresh_token))
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
process.exit()
