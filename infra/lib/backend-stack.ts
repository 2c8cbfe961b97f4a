// The backend: the DynamoDB table (from schema/dynamodb-table.json), the S3 bucket for `.crate`
// files, the `raktar` function with exactly the permissions its drivers need, its HTTP entry (an
// API Gateway HTTP API or a Lambda function URL), logs and alarms.
import {
  Annotations,
  type CfnElement,
  CfnOutput,
  Duration,
  Fn,
  RemovalPolicy,
  SecretValue,
  Stack,
  type StackProps,
  Validations,
} from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as targets from 'aws-cdk-lib/aws-route53-targets';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import type { Construct } from 'constructs';

import { resolveArtifact, type LambdaArtifact } from './artifact.js';
import { type RaktarConfig, ssmNames } from './config.js';
import { attributeType, keyAttribute, loadTableSchema, type TableSchema } from './table-schema.js';

export interface BackendStackProps extends StackProps {
  readonly config: RaktarConfig;
  /** Default: `schema/dynamodb-table.json`. */
  readonly tableSchema?: TableSchema;
  /** Default: resolved from the configuration (`lambdaAsset`, the newest build, a placeholder). */
  readonly artifact?: LambdaArtifact;
}

/** The DynamoDB item actions the driver sends (`backend/raktar-aws/src/dynamodb.rs`).
 * `TransactWriteItems` is authorized per contained action; `Scan`, `DescribeTable`, `CreateTable`
 * are used only by operator commands (`raktar migrate`, `raktar serve`'s start check, `raktar aws`). */
export const DYNAMODB_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:Query',
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:ConditionCheckItem',
] as const;

/** The S3 object actions of the blob driver (`backend/raktar-aws/src/s3.rs`): GetObject (also
 * HeadObject and the presigned downloads), PutObject (`If-None-Match: *`), DeleteObject. */
export const S3_OBJECT_ACTIONS = ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'] as const;

/** ListBucket: S3 then answers a missing object with 404 instead of 403 (and ListObjectsV2). */
export const S3_BUCKET_ACTIONS = ['s3:ListBucket'] as const;

export const LOG_ACTIONS = ['logs:CreateLogStream', 'logs:PutLogEvents'] as const;

function cdkAttributeType(t: 'S' | 'N' | 'B'): dynamodb.AttributeType {
  return t === 'S'
    ? dynamodb.AttributeType.STRING
    : t === 'N'
      ? dynamodb.AttributeType.NUMBER
      : dynamodb.AttributeType.BINARY;
}

function keyOf(schema: TableSchema, name: string): dynamodb.Attribute {
  return { name, type: cdkAttributeType(attributeType(schema, name)) };
}

export class BackendStack extends Stack {
  public readonly table: dynamodb.Table;
  public readonly bucket: s3.Bucket;
  public readonly fn: lambda.Function;
  public readonly api: apigw.HttpApi | undefined;
  public readonly functionUrl: lambda.FunctionUrl | undefined;
  /** The registry URL the function announces (a plain string or a token). */
  public readonly publicUrl: string;
  /** Host name of the API origin (for CloudFront). */
  public readonly originDomain: string;

  constructor(scope: Construct, id: string, props: BackendStackProps) {
    super(scope, id, props);
    const config = props.config;
    const schema = props.tableSchema ?? loadTableSchema();
    const artifact = props.artifact ?? resolveArtifact(config.lambdaAsset);

    // ---- the table, from the schema file ------------------------------------------------------
    if (schema.BillingMode !== 'PAY_PER_REQUEST') {
      throw new Error(
        `schema/dynamodb-table.json: BillingMode ${schema.BillingMode} is not supported (on-demand only)`,
      );
    }
    const pk = keyAttribute(schema.KeySchema, 'HASH');
    if (pk === undefined) throw new Error('schema/dynamodb-table.json: no HASH key');
    const sk = keyAttribute(schema.KeySchema, 'RANGE');
    this.table = new dynamodb.Table(this, 'Table', {
      tableName: config.tableName,
      partitionKey: keyOf(schema, pk),
      sortKey: sk === undefined ? undefined : keyOf(schema, sk),
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: schema.TimeToLiveSpecification.Enabled
        ? schema.TimeToLiveSpecification.AttributeName
        : undefined,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    for (const index of schema.GlobalSecondaryIndexes) {
      const ipk = keyAttribute(index.KeySchema, 'HASH');
      if (ipk === undefined) throw new Error(`schema/dynamodb-table.json: index ${index.IndexName} has no HASH key`);
      const isk = keyAttribute(index.KeySchema, 'RANGE');
      if (index.Projection.ProjectionType !== 'ALL') {
        throw new Error(`schema/dynamodb-table.json: index ${index.IndexName}: only projection ALL is supported`);
      }
      this.table.addGlobalSecondaryIndex({
        indexName: index.IndexName,
        partitionKey: keyOf(schema, ipk),
        sortKey: isk === undefined ? undefined : keyOf(schema, isk),
        projectionType: dynamodb.ProjectionType.ALL,
      });
    }

    // ---- the crate bucket ---------------------------------------------------------------------
    this.bucket = new s3.Bucket(this, 'Crates', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      versioned: config.bucketVersioning,
      lifecycleRules: [
        { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
        ...(config.bucketVersioning
          ? [{ id: 'expire-old-versions', noncurrentVersionExpiration: Duration.days(config.noncurrentVersionDays) }]
          : []),
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(this.bucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason:
        'Objects are written and presigned only by the function, which logs every publish and download request; ' +
        'S3 server access logs would need a second bucket and duplicate that record.',
    });

    // ---- the function -------------------------------------------------------------------------
    const logGroup = new logs.LogGroup(this, 'FunctionLogs', {
      retention: config.logRetentionDays as logs.RetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const role = new iam.Role(this, 'FunctionRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'raktar: items in the table, blobs in the bucket, its own log group',
    });
    const objects =
      config.s3Prefix === undefined
        ? this.bucket.arnForObjects('*')
        : this.bucket.arnForObjects(`${config.s3Prefix}/*`);
    const policy = new iam.Policy(this, 'FunctionPolicy', {
      statements: [
        new iam.PolicyStatement({
          sid: 'RaktarItems',
          actions: [...DYNAMODB_ACTIONS],
          resources: [
            this.table.tableArn,
            ...schema.GlobalSecondaryIndexes.map((i) => `${this.table.tableArn}/index/${i.IndexName}`),
          ],
        }),
        new iam.PolicyStatement({ sid: 'RaktarBlobs', actions: [...S3_OBJECT_ACTIONS], resources: [objects] }),
        new iam.PolicyStatement({
          sid: 'RaktarBlobListing',
          actions: [...S3_BUCKET_ACTIONS],
          resources: [this.bucket.bucketArn],
        }),
        new iam.PolicyStatement({ sid: 'RaktarLogs', actions: [...LOG_ACTIONS], resources: [logGroup.logGroupArn] }),
      ],
    });
    policy.attachToRole(role);
    // cdk-nag 3 acknowledges each wildcard finding on its own: exactly the object wildcard of the
    // crate bucket (the log group ARN's `:*` is not reported).
    const bucketLogicalId = this.getLogicalId(this.bucket.node.defaultChild as CfnElement);
    const objectWildcard = config.s3Prefix === undefined ? '/*' : `/${config.s3Prefix}/*`;
    Validations.of(policy).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${bucketLogicalId}.Arn>${objectWildcard}]`,
      reason:
        'The .crate objects of the bucket (under the prefix): keys are created per crate version, so the ' +
        'object ARN needs a wildcard; every action is named and no resource is `*`.',
    });
    if (artifact.placeholder) {
      Annotations.of(this).addWarningV2(
        'raktar:placeholder-code',
        'No Lambda artifact: the function gets placeholder code that cannot serve. Build it with `bash .ci/build-lambda` ' +
          'or name one with -c lambdaAsset=PATH (or RAKTAR_LAMBDA_ASSET).',
      );
    }
    const architecture = artifact.architecture === 'arm64' ? lambda.Architecture.ARM_64 : lambda.Architecture.X86_64;

    // The variables the binary reads (backend/raktar/src/{main,home,auth_config}.rs); the public
    // URL is added once the HTTP entry exists: chosen by the installer, else the custom domain,
    // else the API's own URL.
    const names = ssmNames(config);
    const environment: Record<string, string> = {
      RAKTAR_ITEM_STORE: 'dynamodb',
      RAKTAR_BLOB_STORE: 's3',
      RAKTAR_DYNAMODB_TABLE: this.table.tableName,
      RAKTAR_S3_BUCKET: this.bucket.bucketName,
      RAKTAR_PRESIGN_SECONDS: String(config.presignSeconds),
      RAKTAR_PUBLIC_READ: String(config.publicRead),
      RAKTAR_LOG_FORMAT: 'json',
      RUST_LOG: 'info',
    };
    if (config.s3Prefix !== undefined) environment.RAKTAR_S3_PREFIX = config.s3Prefix;
    if (config.sessionLifetime !== undefined) environment.RAKTAR_SESSION_LIFETIME = config.sessionLifetime;
    // The pull-through cache of an upstream registry and the name guard (the function reaches the
    // upstream over the internet: it runs outside any VPC).
    if (config.upstreamSparse !== undefined) environment.RAKTAR_UPSTREAM_SPARSE = config.upstreamSparse;
    if (config.upstreamFreshness !== undefined) environment.RAKTAR_UPSTREAM_FRESHNESS = config.upstreamFreshness;
    if (config.upstreamUncheckedNames !== undefined) {
      environment.RAKTAR_UPSTREAM_UNCHECKED_NAMES = config.upstreamUncheckedNames;
    }
    // Trusted publishing from CI.
    if (config.trustedPublishingIssuers.length > 0) {
      environment.RAKTAR_TRUSTED_PUBLISHING_ISSUERS = config.trustedPublishingIssuers.join(',');
    }
    if (config.trustedPublishingAudience !== undefined) {
      environment.RAKTAR_TRUSTED_PUBLISHING_AUDIENCE = config.trustedPublishingAudience;
    }
    if (config.trustedPublishingTokenLifetime !== undefined) {
      environment.RAKTAR_TRUSTED_PUBLISHING_TOKEN_LIFETIME = config.trustedPublishingTokenLifetime;
    }
    if (config.signIn === 'cognito') {
      // Written by the sign-in stack; resolved by CloudFormation at each deployment.
      environment.RAKTAR_OIDC_ISSUER = ssm.StringParameter.valueForStringParameter(this, names.oidcIssuer);
      environment.RAKTAR_OIDC_CLIENT_ID = ssm.StringParameter.valueForStringParameter(this, names.oidcClientId);
    } else if (config.signIn === 'oidc') {
      environment.RAKTAR_OIDC_ISSUER = config.oidcIssuer ?? '';
      environment.RAKTAR_OIDC_CLIENT_ID = config.oidcClientId ?? '';
      if (config.oidcClientSecretArn !== undefined) {
        // Resolved by CloudFormation at deployment (a dynamic reference), never in the template.
        environment.RAKTAR_OIDC_CLIENT_SECRET = SecretValue.secretsManager(config.oidcClientSecretArn).unsafeUnwrap();
      }
    }

    this.fn = new lambda.Function(this, 'Function', {
      description: 'Raktar: the private Cargo registry (raktar binary as bootstrap)',
      runtime: lambda.Runtime.PROVIDED_AL2023,
      handler: 'bootstrap',
      code: lambda.Code.fromAsset(artifact.path),
      architecture,
      memorySize: config.memorySize,
      timeout: Duration.seconds(config.timeoutSeconds),
      reservedConcurrentExecutions: config.reservedConcurrency,
      role,
      logGroup,
      // The binary logs JSON (RAKTAR_LOG_FORMAT); Lambda's own per-invocation START/END/REPORT
      // lines are dropped by default (platformLogLevel WARN): they would be most of the log
      // volume per request. Duration and errors remain CloudWatch metrics.
      loggingFormat: lambda.LoggingFormat.JSON,
      systemLogLevelV2: lambda.SystemLogLevel[config.platformLogLevel],
      environment,
    });
    this.fn.node.addDependency(policy);

    // ---- the HTTP entry -----------------------------------------------------------------------
    let entryUrl: string;
    if (config.entry === 'httpApi') {
      const api = new apigw.HttpApi(this, 'Api', {
        description: 'Raktar registry (cargo sparse index, API, web sign-in, GraphQL)',
        createDefaultStage: false,
        defaultIntegration: new HttpLambdaIntegration('Function', this.fn, {
          payloadFormatVersion: apigw.PayloadFormatVersion.VERSION_2_0,
        }),
      });
      const accessLogs = new logs.LogGroup(this, 'ApiAccessLogs', {
        retention: config.logRetentionDays as logs.RetentionDays,
        removalPolicy: RemovalPolicy.DESTROY,
      });
      const stage = new apigw.HttpStage(this, 'DefaultStage', {
        httpApi: api,
        stageName: '$default',
        autoDeploy: true,
        throttle: { rateLimit: config.throttleRateLimit, burstLimit: config.throttleBurstLimit },
        accessLogSettings: {
          destination: new apigw.LogGroupLogDestination(accessLogs),
          format: accessLogFormat(),
        },
      });
      Validations.of(api).acknowledge({
        id: 'AwsSolutions-APIG4',
        reason:
          'The function authenticates every request itself (cargo tokens, web sessions) and answers cargo 401 ' +
          'challenges; an API Gateway authorizer cannot express that protocol.',
      });
      entryUrl = api.apiEndpoint;
      this.originDomain = Fn.select(2, Fn.split('/', api.apiEndpoint));
      if (config.apiDomainName !== undefined && config.apiCertificateArn !== undefined) {
        const domain = new apigw.DomainName(this, 'ApiDomain', {
          domainName: config.apiDomainName,
          certificate: acm.Certificate.fromCertificateArn(this, 'ApiCertificate', config.apiCertificateArn),
        });
        new apigw.ApiMapping(this, 'ApiMapping', { api, domainName: domain, stage });
        entryUrl = `https://${config.apiDomainName}`;
        this.originDomain = config.apiDomainName;
        if (config.hostedZoneId !== undefined && config.hostedZoneName !== undefined) {
          const zone = route53.HostedZone.fromHostedZoneAttributes(this, 'Zone', {
            hostedZoneId: config.hostedZoneId,
            zoneName: config.hostedZoneName,
          });
          const target = route53.RecordTarget.fromAlias(
            new targets.ApiGatewayv2DomainProperties(domain.regionalDomainName, domain.regionalHostedZoneId),
          );
          new route53.ARecord(this, 'ApiAlias', { zone, recordName: config.apiDomainName, target });
          new route53.AaaaRecord(this, 'ApiAliasV6', { zone, recordName: config.apiDomainName, target });
        }
      }
      this.api = api;
      this.functionUrl = undefined;
    } else {
      // No API Gateway: the function URL takes the same payload 2.0 events (no per-request API
      // Gateway charge, no API Gateway throttling: reserved concurrency caps the function instead).
      const url = this.fn.addFunctionUrl({
        authType: lambda.FunctionUrlAuthType.NONE,
        invokeMode: lambda.InvokeMode.BUFFERED,
      });
      entryUrl = url.url;
      this.originDomain = Fn.select(2, Fn.split('/', url.url));
      this.api = undefined;
      this.functionUrl = url;
      if (config.publicUrl === undefined) {
        throw new Error(
          'entry=functionUrl needs publicUrl: the function cannot name its own URL (it is created after the function); ' +
            'put CloudFront (the frontend stack) in front and pass its URL, e.g. -c publicUrl=https://crates.example.com',
        );
      }
    }
    this.publicUrl = config.publicUrl ?? entryUrl;
    this.fn.addEnvironment('RAKTAR_PUBLIC_URL', this.publicUrl);

    new ssm.StringParameter(this, 'ApiOriginDomainParameter', {
      parameterName: names.apiOriginDomain,
      description: 'Raktar: host name of the API origin (read by the frontend stack)',
      stringValue: this.originDomain,
    });

    // ---- alarms ---------------------------------------------------------------------------------
    const topic = config.alarmEmail === undefined ? undefined : new sns.Topic(this, 'Alarms', { enforceSSL: true });
    if (topic !== undefined && config.alarmEmail !== undefined) {
      topic.addSubscription(new subscriptions.EmailSubscription(config.alarmEmail));
      Validations.of(topic).acknowledge({
        id: 'AwsSolutions-SNS2',
        reason:
          'Alarm notifications carry no data beyond the alarm state; CloudWatch cannot publish to a topic encrypted ' +
          'with the AWS managed SNS key, and a customer managed key would cost more than the whole idle registry.',
      });
    }
    const alarm = (
      id: string,
      description: string,
      metric: cloudwatch.IMetric,
      threshold: number,
    ): cloudwatch.Alarm => {
      const a = new cloudwatch.Alarm(this, id, {
        alarmDescription: description,
        metric,
        threshold,
        evaluationPeriods: 3,
        datapointsToAlarm: 2,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      if (topic !== undefined) {
        a.addAlarmAction(new cwActions.SnsAction(topic));
        a.addOkAction(new cwActions.SnsAction(topic));
      }
      return a;
    };
    const period = Duration.minutes(5);
    const [errors, requests] =
      this.api !== undefined
        ? [this.api.metricServerError({ period, statistic: 'Sum' }), this.api.metricCount({ period, statistic: 'Sum' })]
        : [
            this.fn.metric('Url5xxCount', {
              period,
              statistic: 'Sum',
              dimensionsMap: { FunctionName: this.fn.functionName, Resource: this.fn.functionName },
            }),
            this.fn.metric('UrlRequestCount', {
              period,
              statistic: 'Sum',
              dimensionsMap: { FunctionName: this.fn.functionName, Resource: this.fn.functionName },
            }),
          ];
    alarm(
      'Http5xxRate',
      `More than ${config.alarm5xxPercent}% of requests answered 5xx`,
      new cloudwatch.MathExpression({
        expression: 'IF(requests > 0, 100 * errors / requests, 0)',
        usingMetrics: { errors, requests },
        period,
        label: '5xx rate (%)',
      }),
      config.alarm5xxPercent,
    );
    alarm(
      'FunctionErrors',
      'The function failed invocations (crashes, timeouts)',
      this.fn.metricErrors({ period, statistic: 'Sum' }),
      1,
    );
    alarm(
      'FunctionThrottles',
      'Invocations were throttled (concurrency limit)',
      this.fn.metricThrottles({ period, statistic: 'Sum' }),
      1,
    );
    const throttleMetrics: Record<string, cloudwatch.IMetric> = {};
    const tableDims = (index?: string): Record<string, string> =>
      index === undefined
        ? { TableName: this.table.tableName }
        : { TableName: this.table.tableName, GlobalSecondaryIndexName: index };
    for (const [i, index] of [undefined, ...schema.GlobalSecondaryIndexes.map((g) => g.IndexName)].entries()) {
      for (const name of ['ReadThrottleEvents', 'WriteThrottleEvents']) {
        throttleMetrics[`${name === 'ReadThrottleEvents' ? 'r' : 'w'}${i}`] = new cloudwatch.Metric({
          namespace: 'AWS/DynamoDB',
          metricName: name,
          dimensionsMap: tableDims(index),
          statistic: 'Sum',
          period,
        });
      }
    }
    alarm(
      'TableThrottles',
      'DynamoDB throttled requests on the table or its indexes',
      new cloudwatch.MathExpression({
        expression: Object.keys(throttleMetrics).join(' + '),
        usingMetrics: throttleMetrics,
        period,
        label: 'throttle events',
      }),
      1,
    );

    // ---- outputs --------------------------------------------------------------------------------
    new CfnOutput(this, 'RegistryUrl', { value: this.publicUrl, description: 'The registry URL (RAKTAR_PUBLIC_URL)' });
    new CfnOutput(this, 'IndexUrl', {
      value: `sparse+${this.publicUrl}/index/`,
      description: 'The sparse index URL for cargo',
    });
    new CfnOutput(this, 'CargoConfig', {
      description: 'Add to .cargo/config.toml, then `cargo login --registry raktar` with a token from /me',
      value: Fn.join('', [
        '[registries.raktar]\nindex = "sparse+',
        this.publicUrl,
        '/index/"\n\n[registry]\nglobal-credential-providers = ["cargo:token"]\n',
      ]),
    });
    new CfnOutput(this, 'EntryUrl', { value: entryUrl, description: 'The HTTP API or function URL itself' });
    new CfnOutput(this, 'ApiOriginDomain', { value: this.originDomain });
    new CfnOutput(this, 'TableName', { value: this.table.tableName });
    new CfnOutput(this, 'BucketName', { value: this.bucket.bucketName });
    new CfnOutput(this, 'FunctionName', { value: this.fn.functionName });
    new CfnOutput(this, 'Architecture', { value: architecture.name });
  }
}

/** API Gateway access log lines: JSON, no query strings (the OIDC callback carries a one-time code). */
function accessLogFormat(): AccessLogFormat {
  return AccessLogFormat.custom(
    JSON.stringify({
      requestId: '$context.requestId',
      ip: '$context.identity.sourceIp',
      time: '$context.requestTime',
      method: '$context.httpMethod',
      path: '$context.path',
      status: '$context.status',
      bytes: '$context.responseLength',
      latencyMs: '$context.responseLatency',
      integrationLatencyMs: '$context.integrationLatency',
      integrationError: '$context.integrationErrorMessage',
    }),
  );
}
