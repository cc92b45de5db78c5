// A load balancer probes /healthz and /readyz every second or so: an answered probe is a debug line, so the info log
// is not flooded, while a failed one (the store refusing writes) is still a warning like any other 5xx.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { buildTestApp, type TestApp } from '../../../../test/helpers/build-test-app.ts';
import { type FaultyDb, faultyDb } from '../../../../test/helpers/faulty-db.ts';
import { LEVEL, type LogSink, logSink } from '../../../../test/helpers/log-sink.ts';
import { storeKinds } from '../../../../test/helpers/stores.ts';

const DEBUG = 20;

for (const kind of storeKinds()) {
  describe(`probe logging (${kind})`, () => {
    /** An app logging at debug into memory, over a store whose writes the test can make fail. */
    async function probedApp(): Promise<{ t: TestApp; sink: LogSink; db: FaultyDb }> {
      const sink = logSink('debug');
      let db: FaultyDb | undefined;
      const t = await buildTestApp(kind, {
        logger: sink.logger,
        wrapDb: (inner) => {
          db = faultyDb(inner);
          return db;
        },
      });
      assert.ok(db);
      return { t, sink, db };
    }

    /** The one request line of the request with this id. */
    function requestLine(sink: LogSink, id: string) {
      const found = sink.lines.filter((l) => l.reqId === id && /^GET \//.test(l.msg));
      assert.equal(found.length, 1, `one line for ${id}`);
      return found[0]!;
    }

    test('answered probes log at debug; any other request at info', async () => {
      const { t, sink } = await probedApp();
      try {
        for (const url of ['/healthz', '/readyz']) {
          const id = `ok-${url.slice(1)}`;
          const res = await t.app.inject({ method: 'GET', url, headers: { 'x-request-id': id } });
          assert.equal(res.statusCode, 200);
          assert.equal(requestLine(sink, id).level, DEBUG, `${url} answered`);
        }
        const other = await t.app.inject({ method: 'GET', url: '/v1/calls', headers: { 'x-request-id': 'other' } });
        assert.equal(other.statusCode, 401);
        assert.equal(requestLine(sink, 'other').level, LEVEL.info);
      } finally {
        await t.close();
      }
    });

    test('a failed /readyz (the store refuses writes) is still a warning', async () => {
      const { t, sink, db } = await probedApp();
      try {
        db.failWrites = true;
        const down = await t.app.inject({ method: 'GET', url: '/readyz', headers: { 'x-request-id': 'down' } });
        assert.equal(down.statusCode, 503);
        const line = requestLine(sink, 'down');
        assert.equal(line.level, LEVEL.warn);
        assert.equal(line.msg, 'GET /readyz 503');
      } finally {
        db.failWrites = false;
        await t.close();
      }
    });
  });
}
