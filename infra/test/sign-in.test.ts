import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';

import { FULL_CONTEXT, only, templates } from './helpers.js';

describe('the sign-in stack', () => {
  const { signIn } = templates(FULL_CONTEXT);
  const t = signIn!;

  it('federates with IAM Identity Center over SAML by metadata URL', () => {
    t.hasResourceProperties('AWS::Cognito::UserPoolIdentityProvider', {
      ProviderName: 'IdentityCenter',
      ProviderType: 'SAML',
      ProviderDetails: Match.objectLike({ MetadataURL: FULL_CONTEXT.identityCenterMetadataUrl }),
      AttributeMapping: { email: 'email', name: 'name' },
    });
  });

  it('has a public code-flow client (PKCE, no secret) for the function, limited to the SAML provider', () => {
    const client = only(t, 'AWS::Cognito::UserPoolClient').props;
    expect(client.GenerateSecret).toBe(false);
    expect(client.AllowedOAuthFlows).toEqual(['code']);
    expect(client.AllowedOAuthFlowsUserPoolClient).toBe(true);
    expect(client.AllowedOAuthScopes).toEqual(expect.arrayContaining(['openid', 'email', 'profile']));
    expect(client.CallbackURLs).toEqual(['https://crates.example.com/auth/oidc/callback']);
    expect(client.SupportedIdentityProviders).toEqual([{ Ref: expect.stringMatching(/^IdentityCenter/) as string }]);
    expect(client.ExplicitAuthFlows).toEqual(['ALLOW_REFRESH_TOKEN_AUTH']);
  });

  it('has a hosted domain, no self sign-up, and hands issuer and client id to the backend through SSM', () => {
    t.resourceCountIs('AWS::Cognito::UserPoolDomain', 1);
    const pool = only(t, 'AWS::Cognito::UserPool').props;
    expect(pool.AdminCreateUserConfig).toEqual({ AllowAdminCreateUserOnly: true });
    t.hasResourceProperties('AWS::SSM::Parameter', { Name: '/raktar/oidc/issuer' });
    t.hasResourceProperties('AWS::SSM::Parameter', { Name: '/raktar/oidc/client-id' });
    t.hasOutput('SamlAudience', {
      Value: { 'Fn::Join': ['', ['urn:amazon:cognito:sp:', { Ref: Match.stringLikeRegexp('^UserPool') }]] },
    });
    expect(JSON.stringify(t.findOutputs('SamlAcsUrl'))).toContain('/saml2/idpresponse');
  });

  it('before the Identity Center application exists, deploys without the SAML provider', () => {
    const { signIn: first } = templates({ publicUrl: 'https://crates.example.com', signIn: 'cognito' });
    first!.resourceCountIs('AWS::Cognito::UserPoolIdentityProvider', 0);
    expect(only(first!, 'AWS::Cognito::UserPoolClient').props.SupportedIdentityProviders).toEqual(['COGNITO']);
  });

  it('needs the public URL (the callback URL)', () => {
    expect(() => templates({ signIn: 'cognito' })).toThrow(/needs publicUrl/);
  });
});
