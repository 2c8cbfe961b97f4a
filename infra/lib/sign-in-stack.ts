// Web sign-in: a Cognito user pool federated with AWS IAM Identity Center over SAML, a hosted
// domain, and an app client for the `raktar` function (authorization code flow with PKCE).
//
// Choice: the app client has NO secret. Raktar is a public OIDC client with PKCE (S256) plus its
// own `state` and `nonce` (docs/authentication.md), so a secret adds nothing an attacker could not
// already be stopped by, while it would have to live in the function's environment (readable by
// anyone allowed `lambda:GetFunctionConfiguration`). No Secrets Manager secret, no rotation.
import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import * as cognito from 'aws-cdk-lib/aws-cognito';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import type { Construct } from 'constructs';

import { type RaktarConfig, ssmNames } from './config.js';

export interface SignInStackProps extends StackProps {
  readonly config: RaktarConfig;
}

/** The SAML attributes the Identity Center application sends (its "attribute mappings"). */
export const SAML_ATTRIBUTES = { email: 'email', name: 'name' } as const;

export const SAML_PROVIDER_NAME = 'IdentityCenter';

export class SignInStack extends Stack {
  public readonly userPool: cognito.UserPool;
  public readonly client: cognito.UserPoolClient;
  public readonly issuer: string;

  constructor(scope: Construct, id: string, props: SignInStackProps) {
    super(scope, id, props);
    const config = props.config;
    if (config.publicUrl === undefined) {
      throw new Error(
        'the sign-in stack needs publicUrl (-c publicUrl=https://crates.example.com): the OIDC callback URL is ' +
          '{publicUrl}/auth/oidc/callback and must be registered at the pool client',
      );
    }

    this.userPool = new cognito.UserPool(this, 'UserPool', {
      // People arrive only through Identity Center: no self sign-up, no local passwords in use.
      selfSignUpEnabled: false,
      signInAliases: { email: true },
      standardAttributes: { email: { required: false, mutable: true }, fullname: { required: false, mutable: true } },
      accountRecovery: cognito.AccountRecovery.NONE,
      passwordPolicy: {
        minLength: 16,
        requireLowercase: true,
        requireUppercase: true,
        requireDigits: true,
        requireSymbols: true,
        tempPasswordValidity: Duration.days(1),
      },
      mfa: cognito.Mfa.OFF,
      featurePlan: cognito.FeaturePlan.ESSENTIALS,
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(this.userPool).acknowledge({
      id: 'AwsSolutions-COG2',
      reason: 'Users sign in at IAM Identity Center (SAML), which enforces MFA; the pool holds no passwords in use.',
    });
    Validations.of(this.userPool).acknowledge({
      id: 'AwsSolutions-COG3',
      reason:
        'Threat protection acts on Cognito-native sign-ins; all sign-ins here are federated from Identity Center.',
    });
    Validations.of(this.userPool).acknowledge({
      id: 'AwsSolutions-COG8',
      reason: 'The Plus feature plan pays for threat protection of native sign-ins, which this pool does not have.',
    });

    const providers: cognito.UserPoolClientIdentityProvider[] = [];
    let saml: cognito.UserPoolIdentityProviderSaml | undefined;
    if (config.identityCenterMetadataUrl !== undefined) {
      saml = new cognito.UserPoolIdentityProviderSaml(this, 'IdentityCenter', {
        userPool: this.userPool,
        name: SAML_PROVIDER_NAME,
        metadata: cognito.UserPoolIdentityProviderSamlMetadata.url(config.identityCenterMetadataUrl),
        attributeMapping: {
          email: cognito.ProviderAttribute.other(SAML_ATTRIBUTES.email),
          fullname: cognito.ProviderAttribute.other(SAML_ATTRIBUTES.name),
        },
        idpSignout: false,
      });
      providers.push(cognito.UserPoolClientIdentityProvider.custom(saml.providerName));
    } else {
      // First deployment: the Identity Center application needs this pool's ACS URL and audience
      // (outputs) before its metadata URL exists. Until then only the pool's own users can sign in
      // (there are none: self sign-up is off).
      providers.push(cognito.UserPoolClientIdentityProvider.COGNITO);
    }

    const domainPrefix = config.cognitoDomainPrefix ?? `${config.name.toLowerCase()}-${this.account}`;
    this.userPool.addDomain('Domain', { cognitoDomain: { domainPrefix } });

    this.client = this.userPool.addClient('RaktarClient', {
      userPoolClientName: 'raktar',
      generateSecret: false,
      oAuth: {
        flows: { authorizationCodeGrant: true, implicitCodeGrant: false },
        scopes: [cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL, cognito.OAuthScope.PROFILE],
        callbackUrls: [`${config.publicUrl}/auth/oidc/callback`],
        logoutUrls: [`${config.publicUrl}/`],
      },
      supportedIdentityProviders: providers,
      preventUserExistenceErrors: true,
      enableTokenRevocation: true,
      idTokenValidity: Duration.minutes(60),
      accessTokenValidity: Duration.minutes(60),
      refreshTokenValidity: Duration.days(1),
    });
    // Only the hosted code flow: no direct password or SRP sign-in through the API.
    (this.client.node.defaultChild as cognito.CfnUserPoolClient).explicitAuthFlows = ['ALLOW_REFRESH_TOKEN_AUTH'];

    this.issuer = `https://cognito-idp.${this.region}.${this.urlSuffix}/${this.userPool.userPoolId}`;
    const names = ssmNames(config);
    new ssm.StringParameter(this, 'IssuerParameter', {
      parameterName: names.oidcIssuer,
      description: 'Raktar: OIDC issuer (RAKTAR_OIDC_ISSUER of the backend stack)',
      stringValue: this.issuer,
    });
    new ssm.StringParameter(this, 'ClientIdParameter', {
      parameterName: names.oidcClientId,
      description: 'Raktar: OIDC client id (RAKTAR_OIDC_CLIENT_ID of the backend stack)',
      stringValue: this.client.userPoolClientId,
    });

    const hostedDomain = `${domainPrefix}.auth.${this.region}.amazoncognito.com`;
    new CfnOutput(this, 'UserPoolId', { value: this.userPool.userPoolId });
    new CfnOutput(this, 'OidcIssuer', { value: this.issuer });
    new CfnOutput(this, 'OidcClientId', { value: this.client.userPoolClientId });
    new CfnOutput(this, 'HostedDomain', { value: `https://${hostedDomain}`, description: 'The Cognito hosted domain' });
    new CfnOutput(this, 'SamlAcsUrl', {
      value: `https://${hostedDomain}/saml2/idpresponse`,
      description: 'Identity Center application: "Application ACS URL"',
    });
    new CfnOutput(this, 'SamlAudience', {
      value: `urn:amazon:cognito:sp:${this.userPool.userPoolId}`,
      description: 'Identity Center application: "Application SAML audience"',
    });
    new CfnOutput(this, 'CallbackUrl', { value: `${config.publicUrl}/auth/oidc/callback` });
  }
}
