import { runInNewContext } from 'node:vm';

import { Match } from 'aws-cdk-lib/assertions';
import { CachePolicy, OriginRequestPolicy } from 'aws-cdk-lib/aws-cloudfront';
import { Stack } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';

import { API_PATHS, SPA_REWRITE, UI_CSP, UI_PLACEHOLDER_DIR, resolveUiDir } from '../lib/frontend-stack.js';
import { FULL_CONTEXT, only, templates } from './helpers.js';

interface Behavior {
  PathPattern?: string;
  TargetOriginId: string;
  CachePolicyId: string;
  OriginRequestPolicyId?: string;
  AllowedMethods?: string[];
  ResponseHeadersPolicyId?: unknown;
  FunctionAssociations?: unknown[];
  ViewerProtocolPolicy: string;
}

describe('the distribution', () => {
  const { frontend } = templates(FULL_CONTEXT);
  const config = only(frontend, 'AWS::CloudFront::Distribution').props.DistributionConfig as {
    DefaultCacheBehavior: Behavior;
    CacheBehaviors: Behavior[];
    Origins: {
      Id: string;
      DomainName: unknown;
      S3OriginConfig?: unknown;
      OriginAccessControlId?: unknown;
      CustomOriginConfig?: { OriginProtocolPolicy: string };
    }[];
    CustomErrorResponses?: unknown;
    DefaultRootObject: string;
  };
  // Managed policy ids are the same in every account (resolve them through a scratch stack).
  const ids = (() => {
    const s = new Stack();
    return {
      cachingDisabled: s.resolve(CachePolicy.CACHING_DISABLED.cachePolicyId) as string,
      allViewerExceptHost: s.resolve(OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER.originRequestPolicyId) as string,
    };
  })();

  it('sends every API path to the API origin, uncached, with all methods, cookies and Authorization', () => {
    const apiOrigin = config.Origins.find((o) => o.CustomOriginConfig !== undefined)!;
    expect(apiOrigin.CustomOriginConfig?.OriginProtocolPolicy).toBe('https-only');
    const patterns = config.CacheBehaviors.map((b) => b.PathPattern).sort();
    expect(patterns).toEqual([...API_PATHS].sort());
    for (const path of [
      '/graphql',
      '/api/*',
      '/index/*',
      '/upstream/*',
      '/auth/*',
      '/health',
      '/login',
      '/logout',
      '/me',
      '/me/*',
    ]) {
      expect(patterns).toContain(path);
    }
    for (const b of config.CacheBehaviors) {
      expect(b.TargetOriginId).toBe(apiOrigin.Id);
      expect(b.CachePolicyId).toBe(ids.cachingDisabled);
      expect(b.OriginRequestPolicyId).toBe(ids.allViewerExceptHost);
      expect(b.AllowedMethods).toEqual(
        expect.arrayContaining(['GET', 'HEAD', 'OPTIONS', 'PUT', 'PATCH', 'POST', 'DELETE']),
      );
      expect(b.ViewerProtocolPolicy).toBe('https-only');
      expect(b.FunctionAssociations).toBeUndefined();
    }
  });

  it('serves the UI from the private bucket through origin access control, with SPA routing at the edge', () => {
    const s3Origin = config.Origins.find((o) => o.S3OriginConfig !== undefined)!;
    expect(s3Origin.OriginAccessControlId).toBeDefined();
    expect(config.DefaultCacheBehavior.TargetOriginId).toBe(s3Origin.Id);
    expect(config.DefaultCacheBehavior.ViewerProtocolPolicy).toBe('redirect-to-https');
    expect(config.DefaultCacheBehavior.FunctionAssociations).toEqual([
      expect.objectContaining({ EventType: 'viewer-request' }),
    ]);
    expect(config.DefaultRootObject).toBe('index.html');
    // No distribution-wide error rewriting: the API's 404s must reach cargo.
    expect(config.CustomErrorResponses).toBeUndefined();
    frontend.hasResourceProperties('AWS::CloudFront::OriginAccessControl', {
      OriginAccessControlConfig: Match.objectLike({ OriginAccessControlOriginType: 's3', SigningBehavior: 'always' }),
    });
    const bucket = only(frontend, 'AWS::S3::Bucket');
    expect(bucket.props.PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
  });

  it('rewrites client-side routes to index.html and leaves files alone', () => {
    // Evaluated in a fresh context, as CloudFront's JavaScript runtime would.
    const handler = runInNewContext(`${SPA_REWRITE}; handler`, {}) as (e: { request: { uri: string } }) => {
      uri: string;
    };
    const route = (uri: string): string => handler({ request: { uri } }).uri;
    expect(route('/crates/serde')).toBe('/index.html');
    expect(route('/')).toBe('/index.html');
    expect(route('/assets/app.3f2a.js')).toBe('/assets/app.3f2a.js');
    expect(route('/favicon.ico')).toBe('/favicon.ico');
    expect(route('/crates/serde/1.0.197')).toBe('/index.html');
    expect(route('/crates/serde/1.0.0-rc.1')).toBe('/index.html');
    expect(route('/assets/Inter.WOFF2')).toBe('/assets/Inter.WOFF2');
  });

  it('sends CSP, HSTS and frame denial with the UI; HSTS and frame denial with the API', () => {
    frontend.hasResourceProperties('AWS::CloudFront::ResponseHeadersPolicy', {
      ResponseHeadersPolicyConfig: Match.objectLike({
        SecurityHeadersConfig: Match.objectLike({
          ContentSecurityPolicy: { ContentSecurityPolicy: UI_CSP, Override: true },
          StrictTransportSecurity: Match.objectLike({
            AccessControlMaxAgeSec: 31536000,
            IncludeSubdomains: true,
            Override: true,
          }),
          FrameOptions: { FrameOption: 'DENY', Override: true },
          ContentTypeOptions: { Override: true },
        }),
      }),
    });
    expect(UI_CSP).toContain("frame-ancestors 'none'");
    expect(UI_CSP).toContain("script-src 'self'");
    const policies = Object.values(frontend.findResources('AWS::CloudFront::ResponseHeadersPolicy'));
    expect(policies).toHaveLength(2);
    const api = policies.find((p) => !JSON.stringify(p).includes('ContentSecurityPolicy'))!;
    expect(JSON.stringify(api)).toContain('"FrameOption":"DENY"');
    expect(JSON.stringify(api)).toContain('StrictTransportSecurity');
  });

  it('deploys the built UI into the bucket and invalidates the distribution', () => {
    frontend.hasResourceProperties('Custom::CDKBucketDeployment', {
      Prune: true,
      DistributionPaths: ['/*'],
      DestinationBucketName: Match.anyValue(),
      DistributionId: Match.anyValue(),
    });
  });

  it('finds the API origin in SSM unless it is given', () => {
    expect(JSON.stringify(frontend.toJSON().Parameters)).toContain('/raktar/api/origin-domain');
    const { frontend: f } = templates({ apiOriginDomain: 'abc123.execute-api.eu-west-1.amazonaws.com' });
    expect(JSON.stringify(f.toJSON())).toContain('abc123.execute-api.eu-west-1.amazonaws.com');
  });

  it('uses a custom domain with TLS 1.2 when given one', () => {
    const { frontend: f } = templates({
      frontendDomainName: 'crates.example.com',
      frontendCertificateArn: 'arn:aws:acm:us-east-1:123456789012:certificate/abc',
      hostedZoneId: 'Z123',
      hostedZoneName: 'example.com',
    });
    f.hasResourceProperties('AWS::Route53::RecordSet', {
      Type: 'A',
      Name: 'crates.example.com.',
      HostedZoneId: 'Z123',
    });
    f.hasResourceProperties('AWS::Route53::RecordSet', { Type: 'AAAA', Name: 'crates.example.com.' });
    f.hasResourceProperties('AWS::CloudFront::Distribution', {
      DistributionConfig: Match.objectLike({
        Aliases: ['crates.example.com'],
        ViewerCertificate: Match.objectLike({ MinimumProtocolVersion: 'TLSv1.2_2021', SslSupportMethod: 'sni-only' }),
      }),
    });
  });
});

describe('the price class', () => {
  it('is North America and Europe by default, wider on request', () => {
    const { frontend } = templates();
    frontend.hasResourceProperties('AWS::CloudFront::Distribution', {
      DistributionConfig: Match.objectLike({ PriceClass: 'PriceClass_100' }),
    });
    const { frontend: all } = templates({ priceClass: 'All' });
    all.hasResourceProperties('AWS::CloudFront::Distribution', {
      DistributionConfig: Match.objectLike({ PriceClass: 'PriceClass_All' }),
    });
  });
});

describe('the UI folder', () => {
  it('falls back to a placeholder when no UI was built (synth never fails for a missing UI)', () => {
    expect(resolveUiDir('/nonexistent/raktar-ui')).toEqual(
      expect.objectContaining({ placeholder: expect.any(Boolean) as boolean }),
    );
    const missing = resolveUiDir('/nonexistent/raktar-ui');
    if (missing.placeholder) expect(missing.dir).toBe(UI_PLACEHOLDER_DIR);
    const { frontend } = templates({ uiDir: '/nonexistent/raktar-ui' });
    frontend.resourceCountIs('Custom::CDKBucketDeployment', 1);
  });
});
