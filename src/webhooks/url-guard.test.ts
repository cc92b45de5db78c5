import assert from 'node:assert/strict';
import { type AddressInfo, connect, createServer } from 'node:net';
import { describe, test } from 'node:test';
import {
  ADDRESS_REFUSED_CODE,
  checkWebhookUrlSyntax,
  type HostLookup,
  isPublicAddress,
  pinnedLookup,
  refusalReason,
  resolveAndCheck,
} from './url-guard.ts';

// Fake DNS: tests never touch the network.
const fakeDns =
  (table: Record<string, string[]>): HostLookup =>
  async (host) => {
    const addresses = table[host];
    if (!addresses) {
      throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    }
    return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };

describe('checkWebhookUrlSyntax', () => {
  const cases: [raw: string, allowInsecure: boolean, ok: boolean][] = [
    ['https://example.com/hooks', false, true],
    ['https://93.184.216.34/hooks', false, true],
    ['https://[2606:2800:220:1:248:1893:25c6:1946]/', false, true],
    ['http://example.com/hooks', false, false], // https only
    ['http://127.0.0.1/hooks', false, false],
    ['https://127.0.0.1/hooks', false, false],
    ['https://0x7f.1/', false, false], // normalised to 127.0.0.1 by the URL parser
    ['https://2130706433/', false, false], // ditto
    ['http://169.254.169.254/latest/meta-data', false, false],
    ['https://169.254.169.254/latest/meta-data', false, false],
    ['http://[::1]/', false, false],
    ['https://[::1]/', false, false],
    ['https://10.1.2.3/', false, false],
    ['https://172.16.0.1/', false, false],
    ['https://192.168.0.10/', false, false],
    ['https://100.64.0.1/', false, false], // CGNAT
    ['https://0.0.0.0/', false, false],
    ['https://224.0.0.1/', false, false],
    ['https://255.255.255.255/', false, false],
    ['https://[::ffff:192.168.1.1]/', false, false],
    ['https://[::ffff:127.0.0.1]/', false, false],
    ['https://[fd00::1]/', false, false],
    ['https://[fe80::1]/', false, false],
    ['https://[::]/', false, false],
    ['https://localhost/', false, false],
    ['https://localhost./', false, false],
    ['https://api.localhost/', false, false],
    ['https://user:pw@example.com/', false, false],
    ['https://user@example.com/', false, false],
    ['ftp://example.com/', false, false],
    ['ftp://example.com/', true, false], // allowInsecure relaxes addresses, not schemes
    ['file:///etc/passwd', true, false],
    ['not a url', false, false],
    ['http://user:pw@127.0.0.1/', true, false], // credentials are refused even when insecure
    ['http://127.0.0.1:8080/hooks', true, true],
    ['http://localhost:3000/', true, true],
    ['http://[::1]/', true, true],
    ['https://10.1.2.3/', true, true],
  ];
  for (const [raw, allowInsecure, ok] of cases) {
    test(`${raw} is ${ok ? 'accepted' : 'refused'}${allowInsecure ? ' with insecure URLs allowed' : ''}`, () => {
      const result = checkWebhookUrlSyntax(raw, allowInsecure);
      assert.equal(result.ok, ok, result.ok ? 'accepted' : result.reason);
      if (result.ok) {
        assert.equal(result.url.href, new URL(raw).href);
      } else {
        assert.ok(result.reason.length > 0);
      }
    });
  }
});

describe('isPublicAddress', () => {
  const cases: [ip: string, isPublic: boolean][] = [
    ['93.184.216.34', true],
    ['8.8.8.8', true],
    ['1.1.1.1', true],
    ['172.32.0.1', true], // just outside 172.16.0.0/12
    ['100.128.0.1', true], // just outside CGNAT
    ['127.0.0.1', false],
    ['127.255.255.254', false],
    ['10.0.0.5', false],
    ['172.31.255.255', false],
    ['192.168.1.1', false],
    ['169.254.169.254', false],
    ['100.64.0.1', false],
    ['0.0.0.0', false],
    ['192.0.2.1', false],
    ['198.18.0.1', false],
    ['239.255.255.250', false],
    ['240.0.0.1', false],
    ['2606:2800:220:1:248:1893:25c6:1946', true],
    ['2a00:1450:4001:830::200e', true],
    ['::ffff:93.184.216.34', true],
    ['::1', false],
    ['::', false],
    ['fc00::1', false],
    ['fdff:ffff::1', false],
    ['fe80::1', false],
    ['febf::1', false],
    ['fe80::1%eth0', false],
    ['ff02::1', false],
    ['::ffff:192.168.1.1', false],
    ['::ffff:c0a8:101', false], // the same address in hex groups
    ['::ffff:127.0.0.1', false],
    ['64:ff9b::a00:1', false], // NAT64 of 10.0.0.1
    ['64:ff9b::5db8:d822', true], // NAT64 of 93.184.216.34
    ['::127.0.0.1', false], // deprecated IPv4-compatible form
    ['2001:db8::1', false],
    ['2002:7f00:1::', false], // 6to4 wrapping 127.0.0.1
    ['example.com', false],
    ['', false],
  ];
  for (const [ip, isPublic] of cases) {
    test(`${ip || '(empty)'} is ${isPublic ? 'public' : 'not public'}`, () => {
      assert.equal(isPublicAddress(ip), isPublic);
    });
  }
});

describe('resolveAndCheck', () => {
  const dns = fakeDns({
    'hooks.example.com': ['93.184.216.34'],
    'internal.example.com': ['10.0.0.5'],
    'mixed.example.com': ['93.184.216.34', '10.0.0.5'],
    'v6.example.com': ['2606:2800:220:1:248:1893:25c6:1946'],
    'v6-local.example.com': ['fd12:3456::1'],
  });

  test('a hostname resolving to a public address is accepted with its addresses', async () => {
    const result = await resolveAndCheck(new URL('https://hooks.example.com/in'), false, dns);
    assert.equal(result.ok, true);
    assert.deepEqual(result.addresses, ['93.184.216.34']);
  });

  test('a hostname resolving to 10.0.0.5 is refused without naming the address', async () => {
    const result = await resolveAndCheck(new URL('https://internal.example.com/in'), false, dns);
    assert.equal(result.ok, false);
    assert.ok(!result.ok && !result.reason.includes('10.0.0.5'));
  });

  test('a hostname with one private answer among public ones is refused', async () => {
    const result = await resolveAndCheck(new URL('https://mixed.example.com/'), false, dns);
    assert.equal(result.ok, false);
  });

  test('IPv6 answers are judged the same way', async () => {
    assert.equal((await resolveAndCheck(new URL('https://v6.example.com/'), false, dns)).ok, true);
    assert.equal((await resolveAndCheck(new URL('https://v6-local.example.com/'), false, dns)).ok, false);
  });

  test('a name that does not resolve is refused', async () => {
    const result = await resolveAndCheck(new URL('https://nowhere.example.com/'), false, dns);
    assert.equal(result.ok, false);
  });

  test('a private answer is accepted when insecure URLs are allowed', async () => {
    const result = await resolveAndCheck(new URL('http://internal.example.com/'), true, dns);
    assert.equal(result.ok, true);
    assert.deepEqual(result.addresses, ['10.0.0.5']);
  });

  test('a literal address is checked without a lookup', async () => {
    const noDns: HostLookup = async () => assert.fail('lookup must not be called for a literal address');
    assert.equal((await resolveAndCheck(new URL('https://93.184.216.34/'), false, noDns)).ok, true);
    assert.equal((await resolveAndCheck(new URL('https://[::1]/'), false, noDns)).ok, false);
    assert.deepEqual((await resolveAndCheck(new URL('http://127.0.0.1:9/'), true, noDns)).addresses, ['127.0.0.1']);
  });

  test('the syntax rules still apply', async () => {
    assert.equal((await resolveAndCheck(new URL('http://hooks.example.com/'), false, dns)).ok, false);
    assert.equal((await resolveAndCheck(new URL('https://a:b@hooks.example.com/'), false, dns)).ok, false);
  });
});

describe('pinnedLookup', () => {
  const call = (fn: ReturnType<typeof pinnedLookup>, host: string, options: object) =>
    new Promise<unknown[]>((resolve) => fn(host, options, (...args: unknown[]) => resolve(args)));

  test('answers in the single-address form with a public address', async () => {
    const lookup = pinnedLookup(false, fakeDns({ 'hooks.example.com': ['93.184.216.34'] }));
    assert.deepEqual(await call(lookup, 'hooks.example.com', {}), [null, '93.184.216.34', 4]);
  });

  test('answers in the all-addresses form when asked (autoSelectFamily)', async () => {
    const lookup = pinnedLookup(
      false,
      fakeDns({ 'hooks.example.com': ['93.184.216.34', '2606:2800:220:1:248:1893:25c6:1946'] }),
    );
    assert.deepEqual(await call(lookup, 'hooks.example.com', { all: true }), [
      null,
      [
        { address: '93.184.216.34', family: 4 },
        { address: '2606:2800:220:1:248:1893:25c6:1946', family: 6 },
      ],
    ]);
    assert.deepEqual(await call(lookup, 'hooks.example.com', { family: 6 }), [
      null,
      '2606:2800:220:1:248:1893:25c6:1946',
      6,
    ]);
  });

  test('refuses a name that now resolves to a private address (DNS rebinding)', async () => {
    const lookup = pinnedLookup(false, fakeDns({ 'rebind.example.com': ['93.184.216.34', '10.0.0.5'] }));
    const [err] = await call(lookup, 'rebind.example.com', { all: true });
    assert.equal((err as NodeJS.ErrnoException).code, ADDRESS_REFUSED_CODE);
  });

  test('passes DNS failures through', async () => {
    const [err] = await call(pinnedLookup(false, fakeDns({})), 'nowhere.example.com', {});
    assert.equal((err as NodeJS.ErrnoException).code, 'ENOTFOUND');
  });

  test('a socket using it cannot reach a loopback receiver, unless insecure URLs are allowed', async (t) => {
    const server = createServer((socket) => socket.end());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(() => server.close());
    const { port } = server.address() as AddressInfo;
    const dns = fakeDns({ 'receiver.test': ['127.0.0.1'] });

    const refused = await new Promise<NodeJS.ErrnoException>((resolve, reject) => {
      const socket = connect({ host: 'receiver.test', port, lookup: pinnedLookup(false, dns) });
      socket.on('connect', () => reject(new Error('connected to a loopback receiver')));
      socket.on('error', resolve);
    });
    assert.equal(refused.code, ADDRESS_REFUSED_CODE);

    await new Promise<void>((resolve, reject) => {
      const socket = connect({ host: 'receiver.test', port, lookup: pinnedLookup(true, dns) });
      socket.on('connect', () => {
        socket.destroy();
        resolve();
      });
      socket.on('error', reject);
    });
  });
});

describe('refusalReason', () => {
  const dns = fakeDns({ 'internal.example.com': ['10.0.0.5'] });
  const hint = /WEBHOOK_ALLOW_INSECURE_URLS=true/;
  const reasonFor = (check: Awaited<ReturnType<typeof resolveAndCheck>>): string => {
    assert.equal(check.ok, false);
    return check.ok ? '' : refusalReason(check);
  };

  test('a refusal the insecure mode would lift says how to allow a local target', async () => {
    for (const raw of ['http://localhost:3000/hooks', 'https://127.0.0.1/x', 'https://localhost/x']) {
      assert.match(reasonFor(checkWebhookUrlSyntax(raw, false)), hint, raw);
    }
    assert.match(reasonFor(await resolveAndCheck(new URL('https://internal.example.com/'), false, dns)), hint);
    // An unknown name gets the same words as a private one: the hint must not tell them apart.
    assert.match(reasonFor(await resolveAndCheck(new URL('https://nowhere.example.com/'), false, dns)), hint);
  });

  test('a refusal it would not lift has no such hint', async () => {
    for (const raw of ['ftp://hooks.example.com/x', 'https://user:pass@hooks.example.com/', 'not a url']) {
      assert.doesNotMatch(reasonFor(checkWebhookUrlSyntax(raw, false)), hint, raw);
    }
    assert.doesNotMatch(reasonFor(await resolveAndCheck(new URL('https://nowhere.example.com/'), true, dns)), hint);
  });
});
