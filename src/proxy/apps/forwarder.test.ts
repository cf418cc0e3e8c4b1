import { describe, expect, it } from 'vitest';
import { appSetCookies } from './forwarder.js';

describe('appSetCookies', () => {
  it("drops Domain, so an app's cookies stay on its own host", () => {
    expect(appSetCookies(['planted=1; Domain=postern.example.com; Path=/', 'wide=2;domain=.example.com;Secure', 'own=3; Path=/; HttpOnly', 'odd=4; DOMAIN ; Path=/'])).toEqual([
      'planted=1; Path=/',
      'wide=2;Secure',
      'own=3; Path=/; HttpOnly',
      'odd=4; Path=/',
    ]);
  });

  it("drops cookies under Postern's own names, and keeps a domain= inside a value", () => {
    expect(appSetCookies(['__Host-postern_app=stolen; Path=/; Secure', ' __Host-postern_session=x', 'note=domain=here; Path=/'])).toEqual(['note=domain=here; Path=/']);
  });
});
