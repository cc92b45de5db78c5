import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isAllowedHost, parseAllowedHosts } from './allowed-hosts.ts';

function allowed(raw: string) {
  const parsed = parseAllowedHosts(raw);
  assert.ok('ok' in parsed, raw);
  return parsed.hosts;
}

describe('EVOLUTION_ALLOWED_HOSTS', () => {
  test('unset allows every host', () => {
    assert.equal(isAllowedHost('http://169.254.169.254/latest', null), true);
  });

  test('a host alone allows it on any port; host:port on that port only', () => {
    const list = allowed('evo.internal, 10.0.0.5:8080');
    assert.equal(isAllowedHost('http://evo.internal:9000', list), true);
    assert.equal(isAllowedHost('https://EVO.internal', list), true);
    assert.equal(isAllowedHost('http://10.0.0.5:8080/base', list), true);
    assert.equal(isAllowedHost('http://10.0.0.5:8081', list), false);
    assert.equal(isAllowedHost('http://10.0.0.5', list), false);
    assert.equal(isAllowedHost('http://evo.internal.attacker.example', list), false);
    assert.equal(isAllowedHost('http://169.254.169.254', list), false);
  });

  test('a default port named in the list matches a URL that leaves it out', () => {
    const list = allowed('evo.internal:80,[fd00::1]:443');
    assert.equal(isAllowedHost('http://evo.internal/', list), true);
    assert.equal(isAllowedHost('https://evo.internal/', list), false);
    assert.equal(isAllowedHost('https://[fd00::1]/', list), true);
  });

  test('hosts are compared as the URL parser reaches them: another spelling of an IP is the same IP', () => {
    const list = allowed('127.0.0.1');
    assert.equal(isAllowedHost('http://2130706433:8080', list), true);
    assert.equal(isAllowedHost('http://0x7f.1', list), true);
    assert.equal(isAllowedHost('http://127.0.0.2', list), false);
    assert.equal(isAllowedHost('not a url', list), false);
  });

  test('an entry that is not a host or host:port is refused, naming it', () => {
    for (const bad of ['http://evo', 'evo/path', 'user@evo', 'evo:99999', '::1', 'evo:port', 'a b']) {
      const parsed = parseAllowedHosts(`ok.internal,${bad}`);
      assert.ok('error' in parsed, bad);
      assert.match(parsed.error, new RegExp(bad.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')));
    }
  });
});
