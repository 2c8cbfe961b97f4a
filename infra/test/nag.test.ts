// cdk-nag (AwsSolutions, a validation plugin in cdk-nag 3): zero unacknowledged findings in every
// stack and every option; and the check is really active (an unprotected bucket fails the synth).
import { Validations } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { describe, expect, it } from 'vitest';

import { FULL_CONTEXT, build } from './helpers.js';

describe('cdk-nag AwsSolutions', () => {
  const variants: Record<string, Record<string, string>> = {
    defaults: {},
    'full installation': { ...FULL_CONTEXT, bucketVersioning: 'true', s3Prefix: 'raktar' },
    'function URL, custom domains, generic OIDC': {
      entry: 'functionUrl',
      publicUrl: 'https://crates.example.com',
      signIn: 'oidc',
      oidcIssuer: 'https://login.example.com',
      oidcClientId: 'raktar',
      frontendDomainName: 'crates.example.com',
      frontendCertificateArn: 'arn:aws:acm:us-east-1:123456789012:certificate/abc',
      hostedZoneId: 'Z123',
      hostedZoneName: 'example.com',
    },
    'API custom domain': {
      apiDomainName: 'api.crates.example.com',
      apiCertificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/abc',
      hostedZoneId: 'Z123',
      hostedZoneName: 'example.com',
      alarmEmail: 'ops@example.com',
    },
  };
  for (const [name, context] of Object.entries(variants)) {
    it(`finds nothing unacknowledged: ${name}`, () => {
      const { app } = build(context);
      expect(() => app.synth()).not.toThrow();
    });
  }

  it('stops the synth on a finding nobody acknowledged', () => {
    const { app, backend } = build();
    new s3.Bucket(backend, 'Unprotected');
    expect(() => app.synth()).toThrow(/AwsSolutions-S1|AwsSolutions-S10|Validation/);
  });

  it('every acknowledgement carries a reason', () => {
    const { app } = build(FULL_CONTEXT);
    const acknowledged: [string, string][] = [];
    for (const c of app.node.findAll()) {
      for (const entry of c.node.metadata) {
        if (entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY) {
          acknowledged.push(...Object.entries(entry.data as Record<string, string>));
        }
      }
    }
    expect(acknowledged.length).toBeGreaterThan(5);
    for (const [id, reason] of acknowledged) {
      expect(id).toMatch(/^(Annotation::)?AwsSolutions-[A-Z]+\d+/);
      expect(reason.length, id).toBeGreaterThan(40);
    }
    // No blanket acknowledgement of a whole stack or the app.
    for (const stack of [app, ...app.node.children]) {
      expect(stack.node.metadata.filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)).toEqual([]);
    }
  });
});
