// Evolution Go calls add-ons ship different route subsets (issue 16): a 404 on one route turns off only its action.
// The fake serves the subsets of two real add-ons (EXTENSION_ROUTE_SETS).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { EXTENSION_ROUTE_SETS } from '../../../../test/fakes/evolution-go.ts';
import { buildTestApp, eventually, type IssuedKey, type TestApp } from '../../../../test/helpers/build-test-app.ts';
import { nextPeer } from '../../../../test/helpers/calls.ts';
import { addWebNumber, answeredWebCall, type WebNumber, webCallUntil } from '../../../../test/helpers/evolution.ts';
import { storeKinds } from '../../../../test/helpers/stores.ts';
import { getNumberById } from '../../../store/numbers.ts';

for (const kind of storeKinds()) {
  describe(`Evolution add-ons with route subsets [${kind}]`, () => {
    let t: TestApp;
    let lucas: WebNumber;
    let goip: WebNumber;
    before(async () => {
      t = await buildTestApp(kind);
      lucas = await addWebNumber(t, 'on', EXTENSION_ROUTE_SETS['lucasgiovannibr/evolution-go']);
      goip = await addWebNumber(t, 'on', EXTENSION_ROUTE_SETS['goippro-main/evolution-go-calls']);
    });
    after(async () => {
      await lucas.fake.close();
      await goip.fake.close();
      await t.close();
    });

    const post = (url: string, key: IssuedKey, payload?: object) =>
      t.app.inject({ method: 'POST', url, headers: { 'x-api-key': key.key }, ...(payload ? { payload } : {}) });

    test('no /call/play (lucasgiovannibr): play is 400, and the hang-up after it still ends the call', async () => {
      const call = await answeredWebCall(t, lucas);
      const play = await post(`/v1/calls/${call.id}/play`, lucas.key, { mediaUrl: 'https://93.184.215.14/a.mp3' });
      assert.equal(play.statusCode, 400);
      assert.equal(play.json().code, 'FEATURE_NOT_SUPPORTED');
      const end = await post(`/v1/calls/${call.id}/terminate`, lucas.key);
      assert.equal(end.statusCode, 200, end.body);
      await lucas.fake.flush();
      await webCallUntil(t, lucas, call.id, 'COMPLETED');
      assert.equal(lucas.fake.countRequests({ path: '/call/hangup', callId: call.externalCallId }), 1);
      const session = await post(`/v1/calls/${(await answeredWebCall(t, lucas)).id}/realtime-session`, lucas.key, {
        mode: 'listen',
      });
      assert.equal(session.statusCode, 200, 'stream-ticket is there');
    });

    test('no /call/active (goippro): the number still dials, answers and hangs up; play and streams are 400', async () => {
      assert.ok(goip.fake.countRequests({ path: '/call/active' }) >= 1, 'the probe asked at creation');
      const dialed = await post('/v1/calls', goip.key, { to: `+${nextPeer()}` });
      assert.equal(dialed.statusCode, 201, dialed.body);
      const { id, externalCallId } = dialed.json();
      await goip.fake.peerAccepts(externalCallId);
      await goip.fake.flush();
      await webCallUntil(t, goip, id, 'ACCEPTED');
      assert.equal(
        (await post(`/v1/calls/${id}/play`, goip.key, { mediaUrl: 'https://93.184.215.14/a.mp3' })).statusCode,
        400,
      );
      assert.equal((await post(`/v1/calls/${id}/realtime-session`, goip.key, { mode: 'talk' })).statusCode, 400);
      assert.equal((await post(`/v1/calls/${id}/terminate`, goip.key)).statusCode, 200);
      await goip.fake.flush();
      await webCallUntil(t, goip, id, 'COMPLETED');

      const inbound = await answeredWebCall(t, goip);
      assert.equal(inbound.status, 'ACCEPTED', 'answered through /call/answer');
    });

    test('a missing route is remembered per route: a second play sends nothing, other routes still go out', async () => {
      const call = await answeredWebCall(t, lucas);
      // The first test's 404 is stored on the number (written asynchronously after it).
      await eventually(
        async () => (await getNumberById(t.store.db, lucas.id))?.publicConfig.missingRoutes,
        3000,
        '/call/play to be stored as missing',
      );
      const before = lucas.fake.countRequests({ path: '/call/play' });
      const res = await post(`/v1/calls/${call.id}/play`, lucas.key, { mediaUrl: 'https://93.184.215.14/b.mp3' });
      assert.equal(res.statusCode, 400);
      assert.equal(res.json().code, 'FEATURE_NOT_SUPPORTED');
      assert.equal(lucas.fake.countRequests({ path: '/call/play' }), before, 'refused without asking the server');
      const stored = await getNumberById(t.store.db, lucas.id);
      assert.deepEqual(Object.keys(stored?.publicConfig.missingRoutes as object), ['/call/play'], 'only that route');
      assert.equal((await post(`/v1/calls/${call.id}/terminate`, lucas.key)).statusCode, 200);
    });
  });
}
