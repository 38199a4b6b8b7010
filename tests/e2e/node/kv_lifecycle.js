// Drives sealgate's embedded KV v2 store with the real, unmodified npm
// node-vault client over mTLS, through a full version lifecycle. Exits non-zero
// on the first failed expectation; prints one JSON summary line on success.
// Env: VAULT_ADDR, SG_CA, SG_CERT, SG_KEY, SG_CANARY_V1, SG_CANARY_V2.
'use strict';
const assert = require('assert');
const fs = require('fs');
const vault = require('node-vault');

const tls = {
  ca: fs.readFileSync(process.env.SG_CA),
  cert: fs.readFileSync(process.env.SG_CERT),
  key: fs.readFileSync(process.env.SG_KEY),
};
// sealgate authenticates by the client certificate; the token is sent (as
// Vault clients always do) and ignored.
const client = vault({ apiVersion: 'v1', endpoint: process.env.VAULT_ADDR, token: 'unused', requestOptions: tls });
const globex = vault({
  apiVersion: 'v1', endpoint: process.env.VAULT_ADDR, token: 'unused', namespace: 'globex', requestOptions: tls,
});

async function rejects(promise, status) {
  try {
    await promise;
  } catch (e) {
    assert.strictEqual(e.response && e.response.statusCode, status, `expected HTTP ${status}, got ${e.message}`);
    return e.response.body;
  }
  throw new Error(`expected HTTP ${status}, the call succeeded`);
}

async function main() {
  const v1 = process.env.SG_CANARY_V1;
  const v2 = process.env.SG_CANARY_V2;
  const p = 'kv/data/node/db';

  let r = await client.write(p, { data: { password: v1, user: 'app' } });
  assert.strictEqual(r.data.version, 1);
  assert.strictEqual(r.data.destroyed, false);
  assert.strictEqual(r.data.deletion_time, '');
  r = await client.write(p, { data: { password: v2, user: 'app' }, options: { cas: 1 } });
  assert.strictEqual(r.data.version, 2);
  // a stale check-and-set fails, and changes nothing
  let body = await rejects(client.write(p, { data: { password: 'x' }, options: { cas: 1 } }), 400);
  assert.match(body.errors[0], /check-and-set/);
  // cas 0: only when the key does not exist
  await rejects(client.write(p, { data: { a: 'b' }, options: { cas: 0 } }), 400);

  r = await client.read(`${p}?version=1`);
  assert.strictEqual(r.data.data.password, v1);
  assert.strictEqual(r.data.metadata.version, 1);
  r = await client.read(p);
  assert.strictEqual(r.data.data.password, v2);
  assert.strictEqual(r.data.metadata.version, 2);

  // PATCH (merge-patch) makes version 3 from version 2
  r = await client.update(p, { data: { user: 'app2' } });
  assert.strictEqual(r.data.version, 3);
  r = await client.read(p);
  assert.deepStrictEqual(r.data.data, { password: v2, user: 'app2' });

  // soft delete of the latest version: 404 whose body still carries the metadata
  await client.delete(p);
  body = await rejects(client.read(p), 404);
  assert.strictEqual(body.data.data, null);
  assert.strictEqual(body.data.metadata.version, 3);
  assert.notStrictEqual(body.data.metadata.deletion_time, '');
  assert.strictEqual(body.data.metadata.destroyed, false);
  // undelete brings it back
  await client.write('kv/undelete/node/db', { versions: [3] });
  r = await client.read(p);
  assert.strictEqual(r.data.metadata.version, 3);
  assert.strictEqual(r.data.metadata.deletion_time, '');
  // soft delete of listed versions
  await client.write('kv/delete/node/db', { versions: [2] });
  body = await rejects(client.read(`${p}?version=2`), 404);
  assert.notStrictEqual(body.data.metadata.deletion_time, '');
  // destroy: gone for good, undelete cannot bring it back
  await client.write('kv/destroy/node/db', { versions: [1] });
  body = await rejects(client.read(`${p}?version=1`), 404);
  assert.strictEqual(body.data.metadata.destroyed, true);
  await client.write('kv/undelete/node/db', { versions: [1] });
  body = await rejects(client.read(`${p}?version=1`), 404);
  assert.strictEqual(body.data.metadata.destroyed, true);
  // a version that never existed: 404 without metadata
  body = await rejects(client.read(`${p}?version=9`), 404);
  assert.deepStrictEqual(body.errors, []);

  // metadata: versions, custom_metadata, max_versions, delete_version_after
  r = await client.read('kv/metadata/node/db');
  assert.strictEqual(r.data.current_version, 3);
  assert.strictEqual(r.data.oldest_version, 1);
  assert.strictEqual(r.data.versions['1'].destroyed, true);
  assert.notStrictEqual(r.data.versions['2'].deletion_time, '');
  assert.strictEqual(r.data.versions['3'].deletion_time, '');
  assert.strictEqual(r.data.delete_version_after, '0s');
  await client.write('kv/metadata/node/db', {
    max_versions: 2, custom_metadata: { owner: 'team-db' }, delete_version_after: '3h25m19s',
  });
  r = await client.read('kv/metadata/node/db');
  assert.deepStrictEqual(r.data.custom_metadata, { owner: 'team-db' });
  assert.strictEqual(r.data.max_versions, 2);
  assert.strictEqual(r.data.delete_version_after, '3h25m19s');
  // past max_versions the oldest versions are removed
  r = await client.write(p, { data: { password: v2, user: 'app3' } });
  assert.strictEqual(r.data.version, 4);
  assert.notStrictEqual(r.data.deletion_time, '');  // delete_version_after applies to new versions
  assert.deepStrictEqual(r.data.custom_metadata, { owner: 'team-db' });
  r = await client.read('kv/metadata/node/db');
  assert.deepStrictEqual(Object.keys(r.data.versions).sort(), ['3', '4']);
  assert.strictEqual(r.data.oldest_version, 3);
  await rejects(client.read(`${p}?version=2`), 404);

  // list (LIST verb)
  await client.write('kv/data/node/web/tls', { data: { pem: 'not-a-secret' } });
  r = await client.list('kv/metadata/node');
  assert.deepStrictEqual(r.data.keys, ['db', 'web/']);

  // mount config
  r = await client.read('kv/config');
  assert.strictEqual(r.data.max_versions, 0);
  assert.strictEqual(r.data.cas_required, false);

  // namespaces are tenants: globex sees nothing of acme's
  await rejects(globex.read(p), 404);
  r = await globex.write('kv/data/node/db', { data: { g: 'globex-value' } });
  assert.strictEqual(r.data.version, 1);

  // delete metadata: every version and the key are gone
  await client.delete('kv/metadata/node/db');
  await rejects(client.read('kv/metadata/node/db'), 404);
  await rejects(client.read(p), 404);
  r = await globex.read('kv/data/node/db');
  assert.strictEqual(r.data.data.g, 'globex-value');

  console.log(JSON.stringify({ ok: true, steps: 'write,cas,read-version,patch,delete,undelete,destroy,metadata,list,config,namespaces,delete-metadata' }));
}

main().catch((e) => {
  console.error('node-vault lifecycle failed:', e && e.stack ? e.stack : e);
  if (e && e.response) console.error(JSON.stringify({ status: e.response.statusCode, body: e.response.body }));
  process.exit(1);
});
