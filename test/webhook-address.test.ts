// Where a webhook may go: the classification of addresses (loopback, private, link-local,
// unspecified, multicast and broadcast refused; public ones taken), and the url check made when a
// webhook is saved. Only this machine's names and addresses are ever looked up.
import t from 'tap'
import { isPrivateAddress, urlTrouble } from '../src/webhooks/address.js'

t.test('isPrivateAddress: the addresses no webhook goes to without WEBHOOK_ALLOW_PRIVATE', async (t) => {
  const refused = {
    '127.0.0.1': 'IPv4 loopback',
    '127.255.255.254': 'the top of 127.0.0.0/8',
    '10.0.0.1': '10.0.0.0/8',
    '10.255.255.255': 'the top of 10.0.0.0/8',
    '172.16.0.1': 'the bottom of 172.16.0.0/12',
    '172.31.255.255': 'the top of 172.16.0.0/12',
    '192.168.0.1': '192.168.0.0/16',
    '192.168.255.254': 'the top of 192.168.0.0/16',
    '169.254.169.254': 'link-local: the cloud metadata service',
    '100.64.0.1': 'carrier-grade NAT',
    '0.0.0.0': 'unspecified',
    '224.0.0.1': 'multicast',
    '255.255.255.255': 'broadcast',
    '::': 'IPv6 unspecified',
    '::1': 'IPv6 loopback',
    '[::1]': 'IPv6 loopback, bracketed as in a URL',
    'fc00::1': 'unique local (fc00::/7)',
    'fd12::1': 'unique local (fd00::/8)',
    'fe80::1': 'IPv6 link-local',
    'fe80::1%eth0': 'IPv6 link-local with a zone',
    'ff02::1': 'IPv6 multicast',
    '::ffff:127.0.0.1': 'loopback mapped into IPv6',
    '::ffff:7f00:1': 'loopback mapped into IPv6, in hex (as the URL parser writes it)',
    '::ffff:10.0.0.1': '10/8 mapped into IPv6',
    '::ffff:a00:1': '10/8 mapped into IPv6, in hex',
    '::ffff:169.254.169.254': 'the metadata service mapped into IPv6',
    garbage: 'not an address',
    '': 'nothing',
    '1.2.3': 'a short IPv4 address',
    '256.1.1.1': 'an IPv4 address out of range',
    localhost: 'a host name (never an address)',
  }
  for (const [address, what] of Object.entries(refused)) {
    t.equal(isPrivateAddress(address), true, `${JSON.stringify(address)} (${what}) is refused`)
  }
  const taken = {
    '172.15.255.255': 'just below 172.16.0.0/12',
    '172.32.0.0': 'just above 172.16.0.0/12',
    '8.8.8.8': 'a public IPv4 address',
    '1.1.1.1': 'a public IPv4 address',
    '100.63.255.255': 'just below carrier-grade NAT',
    '100.128.0.0': 'just above carrier-grade NAT',
    '11.0.0.1': 'just above 10/8',
    '2606:4700::1111': 'a public IPv6 address',
    '[2606:4700::1111]': 'a public IPv6 address, bracketed',
    '::ffff:8.8.8.8': 'a public IPv4 address mapped into IPv6',
    '::ffff:808:808': 'a public IPv4 address mapped into IPv6, in hex',
  }
  for (const [address, what] of Object.entries(taken)) {
    t.equal(isPrivateAddress(address), false, `${JSON.stringify(address)} (${what}) is taken`)
  }
})

t.test('urlTrouble without WEBHOOK_ALLOW_PRIVATE: the form, then where the host is', async (t) => {
  const troubles: [string, RegExp][] = [
    ['ftp://127.0.0.1/hook', /^must be an http or https URL$/],
    ['file:///etc/passwd', /^must be an http or https URL$/],
    ['not a url', /^must be an absolute http or https URL$/],
    ['/relative/hook', /^must be an absolute http or https URL$/],
    ['http://user:pw@127.0.0.1/', /^must not hold a user name or password$/],
    ['http://user@127.0.0.1/', /^must not hold a user name or password$/],
    ['http://127.0.0.1/#part', /^must not hold a fragment/],
    ['http://127.0.0.1/', /^resolves to 127\.0\.0\.1, a loopback, private, link-local or unspecified address/],
    ['https://127.0.0.1:8443/hook', /^resolves to 127\.0\.0\.1,/],
    ['http://127.1/', /^resolves to 127\.0\.0\.1,/],
    ['http://0x7f000001/', /^resolves to 127\.0\.0\.1,/],
    ['http://[::1]/', /^resolves to ::1,/],
    ['http://[::ffff:127.0.0.1]/', /^resolves to ::ffff:7f00:1,/],
    ['http://localhost/', /^resolves to (127\.0\.0\.1|::1),/],
    ['http://localhost:8080/hook', /^resolves to (127\.0\.0\.1|::1),/],
  ]
  for (const [url, expected] of troubles) {
    const trouble = await urlTrouble(url, false)
    t.match(trouble, expected, `${url}: ${String(trouble)}`)
  }
  t.match(
    await urlTrouble('http://127.0.0.1/', false),
    /\(set WEBHOOK_ALLOW_PRIVATE=true to allow it\)$/,
    'the refusal says how to allow it',
  )
})

t.test('urlTrouble with WEBHOOK_ALLOW_PRIVATE: the local urls are taken, the form still checked', async (t) => {
  for (const url of [
    'http://127.0.0.1/',
    'http://127.0.0.1:9999/hook?x=1',
    'https://127.0.0.1/',
    'http://localhost/',
    'http://localhost:8080/hook',
    'http://[::1]/',
    'http://[::1]:9999/hook',
  ]) {
    t.equal(await urlTrouble(url, true), undefined, `${url} is taken`)
  }
  t.equal(await urlTrouble('ftp://127.0.0.1/', true), 'must be an http or https URL', 'the scheme is still checked')
  t.equal(
    await urlTrouble('http://user:pw@127.0.0.1/', true),
    'must not hold a user name or password',
    'credentials are still refused',
  )
  t.equal(await urlTrouble('not a url', true), 'must be an absolute http or https URL', 'a non-URL is still refused')
})
