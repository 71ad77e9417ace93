import { describe, expect, it } from '@jest/globals';

import { nthAddressIn } from '../../support/local-kubelet.js';

describe('nthAddressIn (pod addresses from a loopback node pod CIDR)', () => {
  it.each<[string, number, string]>([
    ['127.20.3.0/24', 1, '127.20.3.2'],
    ['127.20.3.0/24', 2, '127.20.3.3'],
    ['127.20.3.0/24', 253, '127.20.3.254'],
    ['127.20.0.0/16', 300, '127.20.1.45'],
    ['127.20.3.128/25', 1, '127.20.3.130'],
  ])('%s #%d → %s', (cidr, n, want) => {
    expect(nthAddressIn(cidr, n)).toBe(want);
  });

  it.each<[string, number, RegExp]>([
    ['127.20.3.0/24', 254, /has no address #254 left/],
    ['10.244.1.0/24', 1, /is not an IPv4 loopback CIDR/],
    ['fd00::/64', 1, /is not an IPv4 loopback CIDR/],
  ])('refuses %s #%d', (cidr, n, err) => {
    expect(() => nthAddressIn(cidr, n)).toThrow(err);
  });
});
