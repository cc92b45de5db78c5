import assert from 'node:assert/strict';
import { test } from 'node:test';
import { normalizePermissionReply } from './permission-status.ts';

const reply = (permission: unknown) => ({ messaging_product: 'whatsapp', permission, actions: [{ action_name: 'x' }] });

test("the OpenAPI page's statuses come out in the guide's words; the rest of the reply is untouched", () => {
  assert.deepEqual(normalizePermissionReply(reply({ status: 'granted', expiration_time: 1768467600 })), {
    ...reply({ status: 'temporary', expiration_time: 1768467600 }),
  });
  assert.deepEqual(normalizePermissionReply(reply({ status: 'granted' })), reply({ status: 'permanent' }));
  for (const status of ['pending', 'denied', 'expired', 'DENIED']) {
    assert.deepEqual(
      normalizePermissionReply(reply({ status, expiration_time: 1 })),
      reply({ status: 'no_permission' }),
      status,
    );
  }
});

test("the guide's own statuses and odd replies pass through unchanged", () => {
  for (const r of [
    reply({ status: 'temporary', expiration_time: 1768467600 }),
    reply({ status: 'permanent' }),
    reply({ status: 'no_permission' }),
    reply(null),
    reply('granted'),
    { messaging_product: 'whatsapp' },
  ]) {
    assert.deepEqual(normalizePermissionReply(r), r);
  }
});

test("the OpenAPI page's time periods come out as the guide's ISO 8601 durations", () => {
  const actions = (periods: string[]) => [
    { action_name: 'start_call', limits: periods.map((time_period) => ({ time_period, max_allowed: 1 })) },
  ];
  const out = normalizePermissionReply({ permission: { status: 'temporary' }, actions: actions(['24h', '7d', '1H']) });
  assert.deepEqual(out.actions, actions(['PT24H', 'P7D', 'PT1H']));
  const guide = { permission: { status: 'temporary' }, actions: actions(['PT24H', 'P7D']) };
  assert.deepEqual(normalizePermissionReply(guide), guide);
});
