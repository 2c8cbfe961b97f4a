import { readFileSync } from 'node:fs';

import { Match, type Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';

import { DYNAMODB_ACTIONS, LOG_ACTIONS, S3_BUCKET_ACTIONS, S3_OBJECT_ACTIONS } from '../lib/backend-stack.js';
import { TABLE_SCHEMA_PATH } from '../lib/table-schema.js';
import { FULL_CONTEXT, fakeArtifact, only, templates } from './helpers.js';

const schema = JSON.parse(readFileSync(TABLE_SCHEMA_PATH, 'utf8')) as Record<string, unknown>;

type Named = { AttributeName?: string; IndexName?: string };
const byName = (a: Named, b: Named): number =>
  (a.AttributeName ?? a.IndexName ?? '').localeCompare(b.AttributeName ?? b.IndexName ?? '');
const sorted = (v: unknown): Named[] => [...(v as Named[])].sort(byName);

describe('the table', () => {
  const { backend } = templates();
  const table = only(backend, 'AWS::DynamoDB::Table');

  it('has the keys, indexes, billing and TTL of schema/dynamodb-table.json', () => {
    expect(table.props.KeySchema).toEqual(schema.KeySchema);
    expect(sorted(table.props.AttributeDefinitions)).toEqual(sorted(schema.AttributeDefinitions));
    expect(sorted(table.props.GlobalSecondaryIndexes)).toEqual(sorted(schema.GlobalSecondaryIndexes));
    expect(table.props.BillingMode).toBe(schema.BillingMode);
    expect(table.props.TimeToLiveSpecification).toEqual(schema.TimeToLiveSpecification);
  });

  it('is protected: point-in-time recovery, deletion protection, retained', () => {
    expect(table.props.PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
    expect(table.props.DeletionProtectionEnabled).toBe(true);
    expect(table.resource.DeletionPolicy).toBe('Retain');
    expect(table.resource.UpdateReplacePolicy).toBe('Retain');
    // The name is CloudFormation's unless the installer names it (the schema's name is a placeholder).
    expect(table.props.TableName).toBeUndefined();
  });
});

describe('the crate bucket', () => {
  it('is private, encrypted, TLS-only, retained, and cleans up incomplete uploads', () => {
    const { backend } = templates();
    const bucket = only(backend, 'AWS::S3::Bucket');
    expect(bucket.props.PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    expect(bucket.props.BucketEncryption).toEqual({
      ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
    });
    expect(bucket.props.VersioningConfiguration).toBeUndefined();
    expect(bucket.resource.DeletionPolicy).toBe('Retain');
    expect(JSON.stringify(bucket.props.LifecycleConfiguration)).toContain(
      '"AbortIncompleteMultipartUpload":{"DaysAfterInitiation":1}',
    );
    backend.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          Match.objectLike({ Effect: 'Deny', Condition: { NumericLessThan: { 's3:TlsVersion': 1.2 } } }),
        ]),
      },
    });
  });

  it('keeps versions when asked, and expires old ones', () => {
    const { backend } = templates({ bucketVersioning: 'true', noncurrentVersionDays: '14' });
    const bucket = only(backend, 'AWS::S3::Bucket');
    expect(bucket.props.VersioningConfiguration).toEqual({ Status: 'Enabled' });
    expect(JSON.stringify(bucket.props.LifecycleConfiguration)).toContain(
      '"NoncurrentVersionExpiration":{"NoncurrentDays":14}',
    );
  });
});

describe('the function', () => {
  const { backend } = templates();
  const fn = only(backend, 'AWS::Lambda::Function');
  const tableId = only(backend, 'AWS::DynamoDB::Table').logicalId;
  const bucketId = only(backend, 'AWS::S3::Bucket').logicalId;
  const logsId = Object.keys(backend.findResources('AWS::Logs::LogGroup')).find((k) => k.startsWith('FunctionLogs'))!;

  it('runs bootstrap on provided.al2023 with the documented memory and timeout', () => {
    expect(fn.props.Runtime).toBe('provided.al2023');
    expect(fn.props.Handler).toBe('bootstrap');
    expect(fn.props.MemorySize).toBe(256);
    expect(fn.props.Timeout).toBe(30);
    expect(fn.props.Architectures).toEqual(['x86_64']);
  });

  it('gets exactly the variables the binary reads', () => {
    const env = (fn.props.Environment as { Variables: Record<string, unknown> }).Variables;
    expect(Object.keys(env).sort()).toEqual(
      [
        'RAKTAR_BLOB_STORE',
        'RAKTAR_DYNAMODB_TABLE',
        'RAKTAR_ITEM_STORE',
        'RAKTAR_LOG_FORMAT',
        'RAKTAR_PRESIGN_SECONDS',
        'RAKTAR_PUBLIC_READ',
        'RAKTAR_PUBLIC_URL',
        'RAKTAR_S3_BUCKET',
        'RUST_LOG',
      ].sort(),
    );
    expect(env.RAKTAR_DYNAMODB_TABLE).toEqual({ Ref: tableId });
    expect(env.RAKTAR_S3_BUCKET).toEqual({ Ref: bucketId });
    expect(env.RAKTAR_PUBLIC_URL).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^Api/), 'ApiEndpoint'] });
  });

  it('has exactly the least-privilege policy: named actions on the table, its indexes, the bucket and its log group', () => {
    const role = only(backend, 'AWS::IAM::Role');
    expect(role.props.ManagedPolicyArns).toBeUndefined();
    expect(role.props.Policies).toBeUndefined();
    const policy = only(backend, 'AWS::IAM::Policy');
    expect(policy.props.Roles).toEqual([{ Ref: role.logicalId }]);
    const arn = (id: string, suffix = ''): unknown =>
      suffix === '' ? { 'Fn::GetAtt': [id, 'Arn'] } : { 'Fn::Join': ['', [{ 'Fn::GetAtt': [id, 'Arn'] }, suffix]] };
    const statements = (policy.props.PolicyDocument as { Statement: { Action: string | string[] }[] }).Statement.map(
      (s) => ({ ...s, Action: Array.isArray(s.Action) ? [...s.Action].sort() : s.Action }),
    );
    expect(statements).toEqual([
      {
        Sid: 'RaktarItems',
        Effect: 'Allow',
        Action: [...DYNAMODB_ACTIONS].sort(),
        Resource: [arn(tableId), arn(tableId, '/index/gsi1'), arn(tableId, '/index/gsi2')],
      },
      { Sid: 'RaktarBlobs', Effect: 'Allow', Action: [...S3_OBJECT_ACTIONS].sort(), Resource: arn(bucketId, '/*') },
      { Sid: 'RaktarBlobListing', Effect: 'Allow', Action: S3_BUCKET_ACTIONS[0], Resource: arn(bucketId) },
      { Sid: 'RaktarLogs', Effect: 'Allow', Action: [...LOG_ACTIONS].sort(), Resource: arn(logsId) },
    ]);
    const text = JSON.stringify(statements);
    expect(text).not.toMatch(/"\*"/);
    expect(text).not.toMatch(/:\*"/);
    expect(text).not.toContain('dynamodb:Scan');
    expect(text).not.toContain('TransactWriteItems');
  });

  it('reads the blobs under the prefix only, when a prefix is set', () => {
    const { backend: b } = templates({ s3Prefix: '/raktar/' });
    const env = (only(b, 'AWS::Lambda::Function').props.Environment as { Variables: Record<string, unknown> })
      .Variables;
    expect(env.RAKTAR_S3_PREFIX).toBe('raktar');
    const statements = (
      only(b, 'AWS::IAM::Policy').props.PolicyDocument as { Statement: { Sid: string; Resource: unknown }[] }
    ).Statement;
    expect(JSON.stringify(statements.find((s) => s.Sid === 'RaktarBlobs')?.Resource)).toContain('"/raktar/*"');
  });

  it('is arm64 when the artifact is an arm64 binary', () => {
    const { backend: b } = templates({ lambdaAsset: fakeArtifact(0xb7) });
    expect(only(b, 'AWS::Lambda::Function').props.Architectures).toEqual(['arm64']);
  });

  it('drops Lambda platform log lines by default (JSON format, system level WARN), keeps them when asked', () => {
    const config = (t: Template) =>
      (only(t, 'AWS::Lambda::Function').props as { LoggingConfig: Record<string, unknown> }).LoggingConfig;
    expect(config(templates().backend)).toMatchObject({ LogFormat: 'JSON', SystemLogLevel: 'WARN' });
    expect(config(templates({ platformLogLevel: 'INFO' }).backend)).toMatchObject({ SystemLogLevel: 'INFO' });
    expect(() => templates({ platformLogLevel: 'TRACE' })).toThrow(/WARN, INFO, DEBUG/);
  });

  it('keeps its logs for the configured retention', () => {
    backend.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
    const { backend: b } = templates({ logRetentionDays: '90' });
    b.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 90 });
  });
});

describe('the HTTP entry', () => {
  it('is an HTTP API with payload 2.0, throttling and access logs by default', () => {
    const { backend } = templates();
    backend.hasResourceProperties('AWS::ApiGatewayV2::Integration', {
      IntegrationType: 'AWS_PROXY',
      PayloadFormatVersion: '2.0',
    });
    backend.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: '$default' });
    backend.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 100, ThrottlingBurstLimit: 200 },
      AccessLogSettings: Match.objectLike({ DestinationArn: Match.anyValue() }),
    });
    backend.resourceCountIs('AWS::Lambda::Url', 0);
  });

  it('maps a custom domain with a certificate and an alias record', () => {
    const { backend } = templates({
      apiDomainName: 'crates.example.com',
      apiCertificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/abc',
      hostedZoneId: 'Z123',
      hostedZoneName: 'example.com',
    });
    backend.hasResourceProperties('AWS::ApiGatewayV2::DomainName', {
      DomainName: 'crates.example.com',
      DomainNameConfigurations: [
        Match.objectLike({ CertificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/abc' }),
      ],
    });
    backend.resourceCountIs('AWS::ApiGatewayV2::ApiMapping', 1);
    backend.hasResourceProperties('AWS::Route53::RecordSet', { Type: 'A', HostedZoneId: 'Z123' });
    const env = (only(backend, 'AWS::Lambda::Function').props.Environment as { Variables: Record<string, unknown> })
      .Variables;
    expect(env.RAKTAR_PUBLIC_URL).toBe('https://crates.example.com');
  });

  it('can be a Lambda function URL instead (no API Gateway)', () => {
    const { backend } = templates({ entry: 'functionUrl', publicUrl: 'https://crates.example.com' });
    backend.resourceCountIs('AWS::ApiGatewayV2::Api', 0);
    backend.hasResourceProperties('AWS::Lambda::Url', { AuthType: 'NONE', InvokeMode: 'BUFFERED' });
    const env = (only(backend, 'AWS::Lambda::Function').props.Environment as { Variables: Record<string, unknown> })
      .Variables;
    expect(env.RAKTAR_PUBLIC_URL).toBe('https://crates.example.com');
  });

  it('passes the pull-through cache and trusted publishing settings to the function only when set', () => {
    const variables = (ctx: Record<string, string>): Record<string, unknown> =>
      (
        only(templates(ctx).backend, 'AWS::Lambda::Function').props.Environment as {
          Variables: Record<string, unknown>;
        }
      ).Variables;
    const plain = variables({});
    for (const name of [
      'RAKTAR_UPSTREAM_SPARSE',
      'RAKTAR_UPSTREAM_FRESHNESS',
      'RAKTAR_UPSTREAM_UNCHECKED_NAMES',
      'RAKTAR_TRUSTED_PUBLISHING_ISSUERS',
      'RAKTAR_TRUSTED_PUBLISHING_AUDIENCE',
      'RAKTAR_TRUSTED_PUBLISHING_TOKEN_LIFETIME',
    ]) {
      expect(plain[name]).toBeUndefined();
    }
    const env = variables({
      upstreamSparse: 'https://index.upstream.test/',
      upstreamFreshness: '2m',
      upstreamUncheckedNames: 'refuse',
      trustedPublishingIssuers: 'https://ci.example.com,https://ci2.example.com',
      trustedPublishingAudience: 'crates.example.com',
      trustedPublishingTokenLifetime: '10m',
    });
    expect(env).toMatchObject({
      RAKTAR_UPSTREAM_SPARSE: 'https://index.upstream.test/',
      RAKTAR_UPSTREAM_FRESHNESS: '2m',
      RAKTAR_UPSTREAM_UNCHECKED_NAMES: 'refuse',
      RAKTAR_TRUSTED_PUBLISHING_ISSUERS: 'https://ci.example.com,https://ci2.example.com',
      RAKTAR_TRUSTED_PUBLISHING_AUDIENCE: 'crates.example.com',
      RAKTAR_TRUSTED_PUBLISHING_TOKEN_LIFETIME: '10m',
    });
  });

  it('refuses a function URL without a public URL (the function cannot know its own URL)', () => {
    expect(() => templates({ entry: 'functionUrl' })).toThrow(/needs publicUrl/);
  });
});

describe('alarms and outputs', () => {
  it('alarms on the 5xx rate, function errors and throttles, and table throttles, and mails them', () => {
    const { backend } = templates({ alarmEmail: 'ops@example.com' });
    backend.resourceCountIs('AWS::CloudWatch::Alarm', 4);
    backend.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Metrics: Match.arrayWith([Match.objectLike({ Expression: 'IF(requests > 0, 100 * errors / requests, 0)' })]),
      Threshold: 5,
    });
    backend.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'Errors', Namespace: 'AWS/Lambda' });
    backend.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'Throttles', Namespace: 'AWS/Lambda' });
    backend.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
    const throttles = JSON.stringify(backend.findResources('AWS::CloudWatch::Alarm'));
    expect(throttles).toContain('WriteThrottleEvents');
    expect(throttles).toContain('{"Name":"GlobalSecondaryIndexName","Value":"gsi2"}');
  });

  it('without an e-mail there is no topic', () => {
    const { backend } = templates();
    backend.resourceCountIs('AWS::SNS::Topic', 0);
    backend.resourceCountIs('AWS::CloudWatch::Alarm', 4);
  });

  it('outputs the registry URL and the cargo configuration', () => {
    const { backend } = templates(FULL_CONTEXT);
    backend.hasOutput('RegistryUrl', { Value: 'https://crates.example.com' });
    backend.hasOutput('IndexUrl', { Value: 'sparse+https://crates.example.com/index/' });
    const cargo = backend.findOutputs('CargoConfig');
    expect(JSON.stringify(cargo)).toContain('[registries.raktar]');
    expect(JSON.stringify(cargo)).toContain('global-credential-providers = [\\"cargo:token\\"]');
  });

  it('reads the OIDC client of the sign-in stack from SSM', () => {
    const { backend } = templates(FULL_CONTEXT);
    const env = (only(backend, 'AWS::Lambda::Function').props.Environment as { Variables: Record<string, unknown> })
      .Variables;
    expect(Object.keys(env)).toEqual(expect.arrayContaining(['RAKTAR_OIDC_ISSUER', 'RAKTAR_OIDC_CLIENT_ID']));
    expect(env.RAKTAR_OIDC_CLIENT_SECRET).toBeUndefined();
    const params = JSON.stringify(backend.toJSON().Parameters);
    expect(params).toContain('/raktar/oidc/issuer');
    expect(params).toContain('/raktar/oidc/client-id');
  });

  it('takes any OIDC issuer by parameters, the secret by a Secrets Manager reference', () => {
    const { backend } = templates({
      signIn: 'oidc',
      oidcIssuer: 'https://login.example.com/realms/dev',
      oidcClientId: 'raktar',
      oidcClientSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:raktar-oidc-AbCdEf',
    });
    const env = (only(backend, 'AWS::Lambda::Function').props.Environment as { Variables: Record<string, unknown> })
      .Variables;
    expect(env.RAKTAR_OIDC_ISSUER).toBe('https://login.example.com/realms/dev');
    expect(env.RAKTAR_OIDC_CLIENT_ID).toBe('raktar');
    expect(JSON.stringify(env.RAKTAR_OIDC_CLIENT_SECRET)).toContain('{{resolve:secretsmanager:arn:aws:secretsmanager:');
  });
});
