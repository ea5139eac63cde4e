// A Redis adapter for oidc-provider, as a production deployment has one: the default
// in-memory adapter is a development aid (an LRU of 1,000 entries, one process), under load
// it forgets opaque tokens within a second. Modelled on the adapter interface of
// oidc-provider's documentation: upsert, find, findByUid, findByUserCode, consume, destroy,
// revokeByGrantId. Each upsert is one pipelined MULTI/EXEC.
import { Redis } from 'ioredis';

const grantable = new Set([
  'AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest',
]);
const consumable = new Set(['AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest']);

const grantKeyFor = (id) => `grant:${id}`;
const userCodeKeyFor = (userCode) => `userCode:${userCode}`;
const uidKeyFor = (uid) => `uid:${uid}`;

export function redisAdapter(url) {
  const client = new Redis(url, { keyPrefix: 'oidc:', enableAutoPipelining: true });

  return class RedisAdapter {
    constructor(name) {
      this.name = name;
    }

    key(id) {
      return `${this.name}:${id}`;
    }

    async upsert(id, payload, expiresIn) {
      const key = this.key(id);
      const multi = client.multi();
      if (consumable.has(this.name)) {
        multi.hset(key, { payload: JSON.stringify(payload) });
      } else {
        multi.set(key, JSON.stringify(payload));
      }
      if (expiresIn) multi.expire(key, expiresIn);
      if (grantable.has(this.name) && payload.grantId) {
        const grantKey = grantKeyFor(payload.grantId);
        multi.rpush(grantKey, key);
        if (expiresIn) multi.expire(grantKey, expiresIn);
      }
      if (payload.userCode) {
        multi.set(userCodeKeyFor(payload.userCode), id, ...(expiresIn ? ['EX', expiresIn] : []));
      }
      if (payload.uid) {
        multi.set(uidKeyFor(payload.uid), id, ...(expiresIn ? ['EX', expiresIn] : []));
      }
      await multi.exec();
    }

    async find(id) {
      const key = this.key(id);
      if (consumable.has(this.name)) {
        const data = await client.hgetall(key);
        if (!data || !data.payload) return undefined;
        const { payload, ...rest } = data;
        return { ...rest, ...JSON.parse(payload) };
      }
      const data = await client.get(key);
      return data ? JSON.parse(data) : undefined;
    }

    async findByUid(uid) {
      const id = await client.get(uidKeyFor(uid));
      return id ? this.find(id) : undefined;
    }

    async findByUserCode(userCode) {
      const id = await client.get(userCodeKeyFor(userCode));
      return id ? this.find(id) : undefined;
    }

    async consume(id) {
      await client.hset(this.key(id), 'consumed', Math.floor(Date.now() / 1000));
    }

    async destroy(id) {
      await client.del(this.key(id));
    }

    async revokeByGrantId(grantId) {
      const grantKey = grantKeyFor(grantId);
      const keys = await client.lrange(grantKey, 0, -1);
      const multi = client.multi();
      keys.forEach((key) => multi.del(key));
      multi.del(grantKey);
      await multi.exec();
    }
  };
}
