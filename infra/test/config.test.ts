import { describe, expect, it } from 'vitest';

import { readConfig } from '../lib/config.js';

const cfg = (ctx: Record<string, unknown>, env: Record<string, string> = {}): ReturnType<typeof readConfig> =>
  readConfig((k) => ctx[k], env);

describe('the configuration', () => {
  it('has sensible defaults', () => {
    const c = cfg({});
    expect(c).toMatchObject({ name: 'Raktar', entry: 'httpApi', signIn: 'none', memorySize: 256, timeoutSeconds: 30 });
    expect(c.publicUrl).toBeUndefined();
  });

  it('takes the local paths from the environment', () => {
    const c = cfg({}, { RAKTAR_LAMBDA_ASSET: '/a/bootstrap.zip', RAKTAR_UI_DIR: '/ui' });
    expect(c.lambdaAsset).toBe('/a/bootstrap.zip');
    expect(c.uiDir).toBe('/ui');
    expect(cfg({ lambdaAsset: '/b' }, { RAKTAR_LAMBDA_ASSET: '/a' }).lambdaAsset).toBe('/b');
  });

  it('refuses what cannot work, with the reason', () => {
    expect(() => cfg({ publicUrl: 'http://crates.example.com' })).toThrow(/https/);
    expect(() => cfg({ memorySize: 'lots' })).toThrow(/memorySize/);
    expect(() => cfg({ entry: 'alb' })).toThrow(/httpApi, functionUrl/);
    expect(() => cfg({ apiDomainName: 'x.example.com' })).toThrow(/apiCertificateArn/);
    expect(() => cfg({ signIn: 'oidc' })).toThrow(/oidcIssuer/);
    expect(() => cfg({ hostedZoneId: 'Z1' })).toThrow(/hostedZoneName/);
    expect(() => cfg({ logRetentionDays: '31' })).toThrow(/one of 1, 3, 5/);
    expect(cfg({ logRetentionDays: 90 }).logRetentionDays).toBe(90);
    expect(cfg({ publicUrl: 'https://crates.example.com/' }).publicUrl).toBe('https://crates.example.com');
  });

  it('reads the pull-through cache and trusted publishing settings, and refuses bad ones', () => {
    const c = cfg({
      upstreamSparse: 'sparse+https://index.upstream.test',
      upstreamFreshness: '10m',
      upstreamUncheckedNames: 'allow',
      trustedPublishingIssuers: 'https://ci.example.com, https://gitlab.example.com',
      trustedPublishingTokenLifetime: '15m',
    });
    expect(c.upstreamSparse).toBe('https://index.upstream.test/');
    expect(c.upstreamFreshness).toBe('10m');
    expect(c.upstreamUncheckedNames).toBe('allow');
    expect(c.trustedPublishingIssuers).toEqual(['https://ci.example.com', 'https://gitlab.example.com']);
    expect(cfg({ trustedPublishingIssuers: ['https://ci.example.com'] }).trustedPublishingIssuers).toEqual([
      'https://ci.example.com',
    ]);
    expect(cfg({}).upstreamSparse).toBeUndefined();
    expect(cfg({}).trustedPublishingIssuers).toEqual([]);
    expect(() => cfg({ upstreamSparse: 'ftp://index.upstream.test/' })).toThrow(/http\(s\)/);
    expect(() => cfg({ upstreamSparse: 'https://index.upstream.test/?x=1' })).toThrow(/query/);
    expect(() => cfg({ upstreamSparse: 'https://index.upstream.test/', upstreamFreshness: '5 minutes' })).toThrow(
      /duration/,
    );
    expect(() => cfg({ upstreamSparse: 'https://index.upstream.test/', upstreamUncheckedNames: 'maybe' })).toThrow(
      /refuse, allow/,
    );
    expect(() => cfg({ upstreamFreshness: '5m' })).toThrow(/need upstreamSparse/);
    expect(() => cfg({ trustedPublishingIssuers: 'http://ci.example.com' })).toThrow(/https/);
    expect(() =>
      cfg({ trustedPublishingIssuers: 'https://ci.example.com', trustedPublishingTokenLifetime: '45m' }),
    ).toThrow(/at most 30m/);
    expect(() => cfg({ trustedPublishingAudience: 'crates.example.com' })).toThrow(/need trustedPublishingIssuers/);
  });
});
